"""`python -m local_stack env-vars`: an `--env-vars` file for `sam local` aimed at the local stack.

The file has SAM CLI's format: `{"Parameters": {VAR: value}}` for every function, and
`{"<FunctionLogicalId>": {VAR: value}}` per function. The values are the ones the local stack gives
the functions (resource names and ARNs resolved from template.yaml, with the local run's template
parameters), plus AWS_ENDPOINT_URL pointing at the local stack's AWS endpoint as a container sees it.

SAM CLI only overrides a variable the function declares in the template, and a function's own section
beats `Parameters`. So every function must declare AWS_ENDPOINT_URL (the template's Globals do, empty),
and it is set in `Parameters` only: copied into a function's section with the template's empty value,
it would send that function's calls to the real AWS endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from local_stack.run_config import DEFAULT_AWS_PORT, DEFAULT_REGION, DOCKER_HOST_ALIAS, run_parameters
from local_stack.stack import DEFAULT_ACCOUNT_ID, plan_stack
from local_stack.template import Template

# Variables a function must not set for itself: any of them would take its calls away from the endpoint.
ENDPOINT_OVERRIDES = ("AWS_ENDPOINT_URL_", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_USE_FIPS_ENDPOINT")


# `sam local start-api` checks no signature and reports no caller (requestContext.identity.userArn is
# null), so no owner can match: every caller of a sam local API is an admin. The functions read "*" as
# "unsigned callers are admins" (logic/authorization.py); the template's AllowedPattern refuses it as a
# parameter value, so it is set on the functions' environment here, never through a parameter. `make
# run`'s own gateway verifies SigV4 and reports the signer, so try per-model authorization there.
SAM_LOCAL_VARIABLES = {"ADMIN_PRINCIPAL_ARN_PATTERNS": "*"}


class UnsafeFunctionError(ValueError):
    """A function that `sam local` would let call real AWS, whatever the env-vars file says."""


def default_endpoint_url(port: int = DEFAULT_AWS_PORT) -> str:
    return f"http://{DOCKER_HOST_ALIAS}:{port}"


def sam_env_vars(
    template: Template,
    *,
    endpoint_url: str | None = None,
    parameters: Mapping[str, str] | None = None,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, dict[str, str]]:
    stack = plan_stack(
        template,
        parameters=run_parameters(template, parameters),
        region=region,
        account_id=account_id,
    )
    forced = {"AWS_ENDPOINT_URL": endpoint_url or default_endpoint_url()}
    document: dict[str, dict[str, str]] = {"Parameters": forced}
    for logical_id, function in stack.functions.items():
        check_function_is_safe(logical_id, function.environment)
        variables = {key: value for key, value in function.environment.items() if key not in forced}
        variables.update({key: value for key, value in SAM_LOCAL_VARIABLES.items() if key in variables})
        document[logical_id] = variables
    return document


def check_function_is_safe(logical_id: str, environment: Mapping[str, str]) -> None:
    """Raise UnsafeFunctionError unless `sam local --env-vars` can point every call of the function at the stack."""
    if "AWS_ENDPOINT_URL" not in environment:
        raise UnsafeFunctionError(
            f"{logical_id} does not declare AWS_ENDPOINT_URL, so `sam local` cannot point it at the local stack"
            " and it would call real AWS: declare it (empty) in the template's Globals.Function.Environment"
        )
    overriding = sorted(key for key in environment if key.startswith(ENDPOINT_OVERRIDES))
    if overriding:
        raise UnsafeFunctionError(f"{logical_id} declares {', '.join(overriding)}, which would bypass AWS_ENDPOINT_URL")


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
