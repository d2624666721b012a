"""Run by tests/unit/test_layer_pruning.py with `python -S` and sys.path = a function, the pruned layer,
boto3's closure (what Lambda has): import every function's app module, serve the API functions' requests
that need no AWS, run the idempotency utility and the Tracer's patched botocore on stubbed clients.

Prints one JSON line: what was imported from where, and each check's outcome. Any ImportError ends it."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

LAYER, RUNTIME, EVENTS = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
FUNCTIONS = [Path(path) for path in sys.argv[4:]]
sys.path[:1] = [str(FUNCTIONS[0]), str(LAYER), str(RUNTIME)]  # in place of this file's directory


class Context:
    function_name = "pruned-layer"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:pruned-layer"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/pruned-layer"
    log_stream_name = "pruned"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def event(name: str, **changes: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return {**loaded, **changes}


def import_app(function: Path) -> Any:
    sys.path[0] = str(function)
    sys.modules.pop("app", None)
    return importlib.import_module("app")


statuses: dict[str, Any] = {}
for function in FUNCTIONS:
    app = import_app(function)
    if function.name == "create_task":
        # Request validation (pydantic, Powertools' OpenAPI params) and the problem answers: no AWS call.
        statuses["create_invalid"] = app.lambda_handler(event("deploy", body="{}"), Context())["statusCode"]
        statuses["create_not_json"] = app.lambda_handler(event("deploy", body="{"), Context())["statusCode"]
    elif function.name == "read_task":
        statuses["read_no_route"] = app.lambda_handler(event("get_deploy_task", path="/nowhere"), Context())[
            "statusCode"
        ]
    else:
        try:  # a workflow step refuses an event that is not its model (pydantic's error path, traced)
            app.lambda_handler({}, Context())
        except Exception as exc:  # any refusal will do, an ImportError will not
            if isinstance(exc, ImportError):
                raise
            statuses.setdefault("steps_refused", []).append(type(exc).__name__)

# The idempotency utility, on a stubbed client: the in-progress record is written, the work fails, and
# the record is deleted (what a create with an Idempotency-Key does before and after its work).
from botocore.stub import Stubber  # noqa: E402

from inference_deploy import dependencies  # noqa: E402
from inference_deploy.logic.idempotency import run_once  # noqa: E402

store = dependencies.idempotency_store()
with Stubber(store.client) as stub:
    stub.add_response("put_item", {})
    stub.add_response("delete_item", {})

    def work() -> Any:
        raise LookupError("the work failed")

    try:
        run_once(work, scope={"key": "k"}, payload={"embedding_model_id": "m"}, persistence=store, lambda_context=None)
    except LookupError:
        statuses["idempotent_work_ran"] = True

print(
    json.dumps(
        {
            "statuses": statuses,
            "xray_patched": sorted(getattr(sys.modules.get("aws_xray_sdk.core.patcher"), "_PATCHED_MODULES", ())),
            "modules": {name: getattr(module, "__file__", None) for name, module in sys.modules.items()},
        }
    )
)
