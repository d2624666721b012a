"""Print the OpenAPI document of every API function's routes, merged into one (python -m scripts.gen_openapi).

The routes are the source of truth: openapi.json is generated from them, and a test fails if it drifts.
"""

from __future__ import annotations

import importlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from cfnlint.decode.cfn_yaml import load as load_yaml

from inference_deploy.api.resolver import PROBLEM_SCHEMA_REF, problem_doc
from inference_deploy.models.common import MODEL_ID_PATTERN, TASK_ID_PATTERN
from inference_deploy.models.problem import PROBLEM_CONTENT_TYPE, Problem

API_MODULES = ("create_task.app", "read_task.app", "cancel_task.app")
ROOT = Path(__file__).resolve().parent.parent
# API Gateway's own answers a caller of this API can get (IAM auth, no API keys, authorizers or WAF);
# their status and code come from the template's GatewayResponses.
GATEWAY_RESPONSES = (
    "MISSING_AUTHENTICATION_TOKEN",
    "ACCESS_DENIED",
    "INVALID_SIGNATURE",
    "EXPIRED_TOKEN",
    "UNAUTHORIZED",
    "THROTTLED",
    "REQUEST_TOO_LARGE",
    "API_CONFIGURATION_ERROR",
    "DEFAULT_5XX",
    "INTEGRATION_FAILURE",
    "INTEGRATION_TIMEOUT",
)
GATEWAY_DESCRIPTIONS = {
    401: "Not authorized (API Gateway)",
    403: "No such route, or the request is not signed or not allowed (API Gateway IAM auth)",
    429: "Throttled by API Gateway; retry after the Retry-After delay",
    502: "The function failed (API Gateway)",
    504: "The function did not answer in time (API Gateway)",
}
# Path parameters are not validated by the routes (an id that cannot exist is a 404), but documented.
PATH_PARAMETERS = {
    "task_id": {"type": "string", "pattern": TASK_ID_PATTERN, "maxLength": 33},
    "embedding_model_id": {"type": "string", "pattern": MODEL_ID_PATTERN, "maxLength": 63},
}
TITLE = "Inference Deployment Tasks API"
DESCRIPTION = (
    "Schedules green deployments and removals of embedding models on SageMaker real-time endpoints. "
    "Every route requires SigV4-signed requests (API Gateway AWS_IAM auth). Errors are RFC 9457 problem details."
)


def build() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name in API_MODULES:
        app = importlib.import_module(name).app
        schema = json.loads(
            app.get_openapi_json_schema(
                title=TITLE,
                version=_version(),
                description=DESCRIPTION,
                security_schemes={"sigv4": {"type": "apiKey", "name": "Authorization", "in": "header"}},
                security=[{"sigv4": []}],
                openapi_extensions={"x-amazon-apigateway-auth-types": ["AWS_IAM"]},
            )
        )
        if not merged:
            merged = schema
            continue
        merged["paths"].update(schema.get("paths", {}))
        merged.setdefault("components", {}).setdefault("schemas", {}).update(
            schema.get("components", {}).get("schemas", {})
        )
    merged["paths"] = dict(sorted(merged["paths"].items()))
    template = load_yaml(ROOT / "template.yaml")
    merged["servers"] = _servers(template)
    _add_gateway_problems(merged["paths"], template["Resources"]["Api"]["Properties"]["GatewayResponses"])
    _document_path_parameters(merged["paths"])
    _drop_default_validation_errors(merged["paths"])
    schemas = merged["components"]["schemas"]
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas[PROBLEM_SCHEMA_REF.rsplit("/", 1)[-1]] = problem
    merged["components"]["schemas"] = _referenced(merged["paths"], schemas)
    return merged


def _servers(template: dict[str, Any]) -> list[dict[str, Any]]:
    stage = template["Parameters"]["StageName"]["Default"]
    return [
        {
            "url": "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
            "description": "The deployed API (the stack's ApiUrl output)",
            "variables": {
                "restApiId": {"default": "abc123defg", "description": "The REST API id"},
                "region": {"default": "us-east-1"},
                "stage": {"default": stage, "description": "The StageName parameter"},
            },
        },
        {"url": "/", "description": "The local stack (make run) and sam local start-api: bare paths"},
        {"url": f"/{stage}", "description": "The local stack (make run) under the stage, as deployed"},
    ]


def _add_gateway_problems(paths: dict[str, Any], responses: dict[str, Any]) -> None:
    """Merge API Gateway's own problem answers into every operation's responses, by status."""
    for operations in paths.values():
        for method, operation in operations.items():
            for response_type in GATEWAY_RESPONSES:
                if response_type == "REQUEST_TOO_LARGE" and method == "get":
                    continue
                status = int(responses[response_type]["StatusCode"])
                template = responses[response_type]["ResponseTemplates"]["application/json"]
                # Some details are API Gateway's own message (a JSON string there): any string parses here.
                body = json.loads(template.replace("$context.error.messageString", '""'))
                codes = [body["code"]]
                existing = operation["responses"].get(str(status))
                if existing is not None:
                    codes += existing["content"][PROBLEM_CONTENT_TYPE]["schema"]["allOf"][1]["properties"]["code"][
                        "enum"
                    ]
                    description = existing["description"].split(". code: ", 1)[0]
                else:
                    description = GATEWAY_DESCRIPTIONS.get(status, "Internal error")
                operation["responses"][str(status)] = problem_doc(status, codes, description)
            operation["responses"] = dict(sorted(operation["responses"].items()))


def _drop_default_validation_errors(paths: dict[str, Any]) -> None:
    """Powertools adds a 422 HTTPValidationError to routes with parameters; this API's 422s are problems,
    and its read routes validate nothing that could give one."""
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"] = {
                status: response
                for status, response in operation["responses"].items()
                if "HTTPValidationError" not in json.dumps(response)
            }


def _document_path_parameters(paths: dict[str, Any]) -> None:
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in PATH_PARAMETERS:
                    parameter["schema"] = {**parameter["schema"], **PATH_PARAMETERS[parameter["name"]]}


def _referenced(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Keep only the schemas the routes reach (Powertools adds its own validation-error schemas,
    which this API never answers with: its errors are problem details)."""
    prefix = "#/components/schemas/"
    seen: set[str] = set()
    pending = [paths]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix) and ref[len(prefix) :] not in seen:
                seen.add(ref[len(prefix) :])
                pending.append(schemas[ref[len(prefix) :]])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return {name: schemas[name] for name in sorted(seen)}


def _version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
