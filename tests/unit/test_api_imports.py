"""An API function's cold start imports the one Powertools resolver it uses, not all of them.

Powertools' `event_handler/__init__.py` imports every resolver (AppSync with asyncio, Bedrock agents, VPC
Lattice...) and `utilities/data_classes/__init__.py` some forty event classes; inference_deploy.api defers
both (api/lazy_packages.py). The import checks run in a fresh interpreter with nothing but the
function and the layer imported (this one has long since imported everything, the tests' conftest too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inference_deploy.api.lazy_packages import reexports
from tests.conftest import run_fresh_python

ROOT = Path(__file__).resolve().parents[2]
DEFERRED = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi",
    "aws_lambda_powertools.utilities.data_classes",
)
UNUSED = (
    "asyncio",
    "aws_lambda_powertools.event_handler.appsync",
    "aws_lambda_powertools.event_handler.bedrock_agent",
    "aws_lambda_powertools.event_handler.vpc_lattice",
    "aws_lambda_powertools.utilities.data_classes.sqs_event",
    "aws_lambda_powertools.utilities.data_classes.s3_event",
)

CHILD = """
import importlib, json, sys
sys.path[:0] = [sys.argv[1] + "/functions/" + sys.argv[2], sys.argv[1] + "/layers/common"]


class LambdaContext:
    function_name, function_version, memory_limit_in_mb, aws_request_id = "api", "$LATEST", 512, "request"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"


def load_event(name, **overrides):
    with open(f"{sys.argv[1]}/events/{name}.json") as file:
        return {**json.load(file), **overrides}


app = importlib.import_module("app")
name, overrides = {
    "create_task": ("deploy", {"body": "{}"}),  # refused by request validation: no AWS call
    "read_task": ("get_deploy_task", {"path": "/nowhere"}),  # no such route
    "cancel_task": ("cancel_deploy", {"path": "/nowhere"}),
}[sys.argv[2]]
event = load_event(name, **overrides)
status = app.lambda_handler(event, LambdaContext())["statusCode"]
unused = [name for name in json.loads(sys.argv[3]) if name in sys.modules]
# Every name the deferred packages export still resolves, to what their submodule defines.
exported = {}
for name in json.loads(sys.argv[4]):
    package = sys.modules.get(name) or importlib.import_module(name)
    exported[name] = {export: getattr(package, export).__module__ for export in package.__all__}
print(json.dumps({"status": status, "unused_imported": unused, "exported": exported}))
"""


def _serve_in_a_fresh_process(function: str) -> dict[str, Any]:
    stdout = run_fresh_python("-c", CHILD, str(ROOT), function, json.dumps(UNUSED), json.dumps(DEFERRED))
    seen: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return seen


@pytest.mark.parametrize(("function", "status"), [("create_task", 422), ("read_task", 404), ("cancel_task", 404)])
def test_an_api_function_imports_no_resolver_or_event_class_it_does_not_use(function, status):
    seen = _serve_in_a_fresh_process(function)

    assert seen["status"] == status
    assert seen["unused_imported"] == []
    exported = seen["exported"]
    assert exported["aws_lambda_powertools.event_handler"]["AppSyncResolver"].endswith(".appsync")
    assert exported["aws_lambda_powertools.event_handler"]["APIGatewayRestResolver"].endswith(".api_gateway")
    assert exported["aws_lambda_powertools.utilities.data_classes"]["SQSEvent"].endswith(".sqs_event")
    assert exported["aws_lambda_powertools.event_handler.openapi"]["OpenAPIMerge"].endswith(".merge")


def test_a_package_that_only_reexports_is_mapped_name_by_name():
    source = '''"""Doc."""

from pkg.sub.a import A, B as Bee
from .c import C

__all__ = ["A", "Bee", "C"]
'''
    assert reexports(source, "pkg.sub") == {
        "A": ("pkg.sub.a", "A"),
        "Bee": ("pkg.sub.a", "B"),
        "C": ("pkg.sub.c", "C"),
    }


@pytest.mark.parametrize(
    "statement",
    [
        "set_handler()",  # state set at import: the package must run as written
        "from os import path",  # not its own submodule
        "from ..other import X",
        "from .a import *",
        "import pkg.sub.a",
        "VERSION = '1'",
    ],
)
def test_a_package_that_does_more_than_reexport_is_left_alone(statement):
    assert reexports(f"from .a import A\n{statement}\n", "pkg.sub") is None


def test_a_submodule_imported_before_the_resolver_still_finds_the_package_names():
    """Powertools' own modules import names from the deferred package in either order."""
    code = (
        "import inference_deploy.api\n"
        "from aws_lambda_powertools.event_handler.openapi.params import Path\n"
        "from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types\n"
        "from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent\n"
        "print(APIGatewayRestResolver.__module__, Response.__module__, content_types.__name__, Path.__name__)\n"
    )
    stdout = run_fresh_python("-c", code, pythonpath=str(ROOT / "layers" / "common"))

    assert stdout.split() == [
        "aws_lambda_powertools.event_handler.api_gateway",
        "aws_lambda_powertools.event_handler.api_gateway",
        "aws_lambda_powertools.event_handler.content_types",
        "Path",
    ]
