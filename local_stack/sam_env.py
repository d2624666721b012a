"""`python -m local_stack env-vars`: an `--env-vars` file for `sam local` aimed at the local stack.

The file has SAM CLI's format: `{"Parameters": {VAR: value}}` for every function, and
`{"<FunctionLogicalId>": {VAR: value}}` per function. The values are the ones the local stack gives
the functions (resource names and ARNs resolved from template.yaml, with the local run's template
parameters), plus AWS_ENDPOINT_URL pointing at the local stack's AWS endpoint as a container sees it.

SAM CLI only overrides variables a function declares in the template; see docs/local-stack.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from local_stack.run_config import DEFAULT_AWS_PORT, DEFAULT_REGION, DOCKER_HOST_ALIAS, run_parameters
from local_stack.stack import DEFAULT_ACCOUNT_ID, plan_stack
from local_stack.template import Template


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
    stack = plan_stack(template, parameters=run_parameters(template, parameters), region=region, account_id=account_id)
    document: dict[str, dict[str, str]] = {"Parameters": {"AWS_ENDPOINT_URL": endpoint_url or default_endpoint_url()}}
    for logical_id, function in stack.functions.items():
        document[logical_id] = dict(function.environment)
    return document


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
