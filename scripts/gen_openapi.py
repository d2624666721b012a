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

API_MODULES = ("create_task.app", "read_task.app")
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
    merged["components"]["schemas"] = _referenced(merged["paths"], merged["components"]["schemas"])
    return merged


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
    with (Path(__file__).resolve().parent.parent / "pyproject.toml").open("rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
