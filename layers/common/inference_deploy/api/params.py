"""What routes annotate their parameters with and answer with (Powertools' own), imported after
`inference_deploy.api` has deferred Powertools' package imports: a function that imported them from
`aws_lambda_powertools.event_handler` first would load every resolver Powertools has."""

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

__all__ = ["Body", "Header", "OpenAPIResponse", "Path", "Query", "Response"]
