"""A request imports only what it needs: the idempotency utility arrives with the first Idempotency-Key,
and with POWERTOOLS_TRACE_DISABLED (the tests' and the local stack's setting) no function imports the
X-Ray SDK, the API functions (TRACER_SUBSEGMENTS "false") nor the workflow steps the creates run
(Powertools' own Tracer would, even disabled).

Each check runs in a fresh process: this one has long since imported everything."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_PARAMETERS, run_fresh_python

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
from local_stack.emulator import EmulatedAws
from local_stack.executions import wait_for_execution
from local_stack.run_config import create_sample_caller
from local_stack.sagemaker import register_model
from tests.conftest import LambdaContext, call_api, load_event

IDEMPOTENCY = "aws_lambda_powertools.utilities.idempotency"
seen = {}
with EmulatedAws("template.yaml", parameters=json.loads(sys.argv[1])) as aws:
    from create_task.app import lambda_handler as create
    from read_task.app import lambda_handler as read

    create_sample_caller(aws.client("iam"), aws.stack.account_id)  # the sample events' caller, an admin
    register_model(aws.client, "embed-deploy-123")  # the model the sample events name
    register_model(aws.client, "keyed-model")
    plain = call_api(create, load_event("deploy"))
    status = call_api(read, load_event("get_model_deploy_status"))
    seen["without_key"] = [plain.status, status.status, IDEMPOTENCY in sys.modules]

    keyed = load_event("deploy", body=json.dumps({"embedding_model_id": "keyed-model"}))
    keyed["headers"] = {**keyed["headers"], "Idempotency-Key": "lazy-import-1"}
    first = call_api(create, keyed)
    wait_for_execution(aws.client("stepfunctions"), first.body["execution_arn"], timeout=60)
    again = call_api(create, keyed)
    seen["with_key"] = [first.status, again.status, again.body == first.body, IDEMPOTENCY in sys.modules]
    seen["xray_sdk_imported"] = any(name.split(".")[0] == "aws_xray_sdk" for name in sys.modules)
    wait_for_execution(aws.client("stepfunctions"), plain.body["execution_arn"], timeout=60)
print(json.dumps(seen))
"""


def _run_child(code: str) -> dict[str, Any]:
    """Run `code` in a fresh interpreter (a cold start) on the local stack; its last line of output, as JSON."""
    pythonpath = os.pathsep.join(str(ROOT / part) for part in ("layers/common", "functions", "."))
    stdout = run_fresh_python("-c", code, json.dumps(TEST_PARAMETERS), pythonpath=pythonpath, timeout=300)
    seen: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return seen


@pytest.mark.slow
def test_only_a_request_with_an_idempotency_key_imports_the_idempotency_utility_and_none_the_xray_sdk():
    seen = _run_child(CHILD)

    assert seen["without_key"] == [202, 200, False]
    assert seen["with_key"] == [202, 202, True, True]
    assert seen["xray_sdk_imported"] is False


READ_CHILD = """
import json, sys
from local_stack.emulator import EmulatedAws
from tests.conftest import call_api, load_event

with EmulatedAws("template.yaml", parameters=json.loads(sys.argv[1])) as aws:
    from read_task.app import lambda_handler as read

    answer = call_api(read, load_event("get_model_deploy_status"))
    loaded = [name for name in sys.modules if name.startswith("inference_deploy.")]
print(json.dumps({"status": answer.status, "loaded": loaded}))
"""


def test_a_read_imports_no_workflow_models_and_no_adapter_it_does_not_use():
    """The adapters are imported by their factories: a read's cold start skips the workflow models (which
    the alarms adapter imports), and the SageMaker, IAM, alarms, executions and event bus adapters."""
    seen = _run_child(READ_CHILD)

    assert seen["status"] == 404  # no task yet: the read ran through the store all the same
    unused = {
        "inference_deploy.models.workflow",
        "inference_deploy.adapters.alarms",
        "inference_deploy.adapters.sagemaker",
        "inference_deploy.adapters.iam",
        "inference_deploy.adapters.executions",
        "inference_deploy.adapters.event_bus",
    }
    assert unused.isdisjoint(seen["loaded"]), sorted(unused & set(seen["loaded"]))
    assert "inference_deploy.adapters.task_store" in seen["loaded"]


CREATE_CHILD = """
import json, sys
from local_stack.emulator import EmulatedAws
from local_stack.run_config import create_sample_caller
from local_stack.sagemaker import register_model
from tests.conftest import call_api, load_event

with EmulatedAws("template.yaml", parameters=json.loads(sys.argv[1])) as aws:
    from create_task.app import lambda_handler as create

    create_sample_caller(aws.client("iam"), aws.stack.account_id)
    register_model(aws.client, "embed-deploy-123")
    answer = call_api(create, load_event("deploy"))
    loaded = [name for name in sys.modules if name.startswith("inference_deploy.")]
    sfn = aws.client("stepfunctions")
    sfn.stop_execution(executionArn=answer.body["execution_arn"])
print(json.dumps({"status": answer.status, "loaded": loaded}))
"""


def test_a_create_builds_its_execution_input_without_the_workflow_step_models():
    """POST /deploy starts an execution with models/plan.py's input: its cold start creates none of the
    workflow's step payloads (models/workflow.py, ~45 classes) and imports no repair logic (only a slot
    left by an ended execution needs it) nor, without rollback_alarms, the alarms adapter."""
    seen = _run_child(CREATE_CHILD)

    assert seen["status"] == 202
    unused = {
        "inference_deploy.models.workflow",
        "inference_deploy.models.repair",
        "inference_deploy.logic.repair",
        "inference_deploy.adapters.alarms",
    }
    assert unused.isdisjoint(seen["loaded"]), sorted(unused & set(seen["loaded"]))
    assert {"inference_deploy.models.plan", "inference_deploy.adapters.executions"} <= set(seen["loaded"])
