"""HTTP edge: the resolver every API function uses and the one map from domain errors to answers.

Importing this package first defers the Powertools packages whose `__init__` imports far more than an API
function uses (see lazy_packages.py): the API functions import Powertools' event handler through
`inference_deploy.api` (params.py, resolver.py), never before it."""

from inference_deploy.api.lazy_packages import defer_reexports

# Parents first: finding a subpackage imports its parent.
for _package in (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi",
    "aws_lambda_powertools.utilities.data_classes",
):
    defer_reexports(_package)
