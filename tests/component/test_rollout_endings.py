"""How a rollout ends when something goes wrong during its bake or while green is made: regressions for
findings of the review of every ending (issue 18), each through the API handlers and the real deploy
state machine on the local stack. Every test checks the ending is true: the task's status, the serving
record and the endpoints that exist agree, and nothing is left running that nothing owns."""

from __future__ import annotations

import threading

from delete_endpoint.app import lambda_handler as delete_endpoint_handler
from finish_abandoned_task.app import lambda_handler as finish_abandoned_handler

from inference_deploy.adapters import aws as aws_clients
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.logic import green_deploy
from inference_deploy.naming import bake_alarm_prefix
from local_stack.emulator import EmulatedAws
from local_stack.faults import Fault
from local_stack.lambdas import running_as
from tests.component.test_bake_and_cancel import (
    LONG,
    MODEL,
    _alarm_names,
    _baking,
    _cancel,
    _entered,
    _serving,
    _trip,
    _waiting_for_green,
)
from tests.component.workflow_helpers import (
    endpoint_configs,
    endpoints_of,
    executed_states,
    read,
    repair_of,
    request,
    run_task,
    step_input,
)
from tests.conftest import LambdaContext, load_event, register_model, wait_for


def _slot(aws: EmulatedAws) -> object:
    item = aws.client("dynamodb").get_item(
        TableName=aws.stack.tables["ModelsTable"].name,
        Key={"embedding_model_id": {"S": MODEL}},
        ConsistentRead=True,
    )
    return item.get("Item", {}).get("active_task")


def test_a_rollback_whose_green_delete_is_throttled_still_discards_green(aws, faults):
    """Finding 3: RollBack's write landed, green's delete was throttled; its retry found the record on
    blue and answered "nothing rolled back" while green kept running."""
    blue, green = _baking(aws, green_alarms=True)
    faults.fail("sagemaker", "DeleteEndpoint", "ThrottlingException", times=1)

    _trip(aws, f"{bake_alarm_prefix()}{green['id']}-5xx")
    wait_for(aws, green["execution_arn"], timeout=120)

    task = read("deploy", green["id"]).body
    assert task["status"] == "failed"
    assert task["error"]["code"] == "rolled_back", task["error"]
    assert faults.calls["DeleteEndpoint"] >= 2, "the throttled delete was tried again"
    assert _serving()["endpoint_name"] == blue["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}
    assert endpoint_configs(aws) == {blue["endpoint_config_name"]}
    assert _alarm_names(aws) == set()
    assert _slot(aws) is None


def test_a_bake_that_cannot_be_ended_rolls_back_and_frees_the_slot_only_then(aws, faults, parked_waits):
    """Finding 4: a CheckBake failure went to MarkFailed with `previous` still in the record and freed the
    slot, so a new deploy was accepted beside an unproven green. Here the bake's end (RetireBlue's write
    that makes the record forget blue) fails past its retries."""
    blue, green = _baking(aws)
    fault = faults.plan.add(
        Fault(
            "dynamodb",
            "TransactWriteItems",
            "error",
            times=1_000_000,
            code="ProvisionedThroughputExceededException",
            in_function="DeleteEndpointFunction",
        ),
        aws_clients.dynamodb(),
    )
    parked_waits.release()  # the bake's wait times out: its end has come, and RetireBlue cannot end it

    wait_for(aws, green["execution_arn"], timeout=120)

    assert fault.hits >= 5, "RetireBlue tried the end of the bake once and four times again"
    assert "RollBackUnchecked" in executed_states(aws, green["execution_arn"])
    task = read("deploy", green["id"]).body
    assert task["status"] == "failed"
    assert task["error"]["code"] == "rolled_back"
    assert "could not be checked" in task["error"]["message"]
    assert task["metadata"]["rollback_reason"] == "check_failed"
    assert _serving()["endpoint_name"] == blue["endpoint_name"]
    assert _serving().get("previous") is None
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}
    assert _alarm_names(aws) == set()
    assert _slot(aws) is None


def test_a_rollback_never_routes_to_a_blue_that_is_gone(aws):
    """Finding 6: nothing checked blue was InService before routing back to it; with blue deleted under
    the bake, the record pointed at nothing and green was deleted too."""
    blue, green = _baking(aws, green_alarms=True)
    aws.client("sagemaker").delete_endpoint(EndpointName=blue["endpoint_name"])  # an operator, mid-bake

    _trip(aws, f"{bake_alarm_prefix()}{green['id']}-5xx")
    wait_for(aws, green["execution_arn"], timeout=120)

    task = read("deploy", green["id"]).body
    assert task["status"] == "failed"
    assert task["error"]["code"] == "alarm_during_bake"
    assert "left serving" in task["error"]["message"]
    assert blue["endpoint_name"] in task["error"]["message"]
    record = _serving()
    assert record["endpoint_name"] == green["metadata"]["endpoint_name"], "green is the endpoint that can serve"
    assert record.get("previous") is None
    assert endpoints_of(aws, MODEL) == {green["metadata"]["endpoint_name"]: "InService"}
    assert _alarm_names(aws) == set()
    assert _slot(aws) is None


def test_a_cancel_during_the_bake_with_blue_gone_keeps_green_and_says_so(aws):
    blue, green = _baking(aws)
    aws.client("sagemaker").delete_endpoint(EndpointName=blue["endpoint_name"])

    assert _cancel("deploy", green["id"]).status == 202
    wait_for(aws, green["execution_arn"], timeout=120)

    task = read("deploy", green["id"]).body
    assert task["status"] == "failed"
    assert task["error"]["code"] == "cancel_not_honoured"
    assert _serving()["endpoint_name"] == green["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {green["metadata"]["endpoint_name"]: "InService"}
    assert _slot(aws) is None


def test_a_cancel_while_green_is_creating_waits_for_sagemaker_and_deletes_it(aws, monkeypatch):
    """Finding 8: a cancel while green was Creating ended `cancelled` with green left to the reconciler
    (billed for up to 1.25 h). Now the workflow asks again until SageMaker allows the delete."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]
    # Creating for the wait's look and the discard's first three looks; no event ends the wait.
    register_model(aws, MODEL, creating_polls=4, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", LONG)
    created = request("deploy", MODEL).body
    _waiting_for_green(aws, created["execution_arn"])

    assert _cancel("deploy", created["id"]).status == 202
    wait_for(aws, created["execution_arn"], timeout=120)

    states = executed_states(aws, created["execution_arn"])
    assert "WaitToDiscard" in states, "SageMaker refused the delete while green was Creating"
    task = read("deploy", created["id"]).body
    assert task["status"] == "cancelled"
    assert task["metadata"]["green_discarded"] is True
    assert "discard_green_error" not in task["metadata"]
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}
    assert endpoint_configs(aws) == {blue["endpoint_config_name"]}
    assert _slot(aws) is None


def test_a_cancel_landing_while_provision_green_creates_discards_the_green_it_made(aws, monkeypatch):
    """Finding 5: StopExecution does not stop a running Lambda, and ProvisionGreen never checked the mark:
    the task said green_discarded while two endpoints were InService."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]
    real_create = SageMaker.create_endpoint
    cancelled: dict[str, int] = {}

    def create_then_cancel(self: SageMaker, *args: object, **kwargs: object) -> object:
        made = real_create(self, *args, **kwargs)  # type: ignore[arg-type]
        task_id = read("deploy-status", MODEL).body["id"]
        cancelled["status"] = _cancel_elsewhere(task_id)
        return made

    monkeypatch.setattr(SageMaker, "create_endpoint", create_then_cancel)
    created = request("deploy", MODEL).body
    wait_for(aws, created["execution_arn"], timeout=120)

    assert cancelled == {"status": 202}
    _entered(aws, created["execution_arn"], "DiscardGreen")
    task = read("deploy", created["id"]).body
    assert task["status"] == "cancelled"
    assert task["metadata"]["green_discarded"] is True
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}
    assert _serving()["endpoint_name"] == blue["endpoint_name"]
    assert _slot(aws) is None


def _cancel_elsewhere(task_id: str) -> int:
    """The cancel, from another caller's thread (the step's Lambda environment is not the cancel's)."""
    answer: dict[str, int] = {}
    thread = threading.Thread(target=lambda: answer.setdefault("status", _cancel("deploy", task_id).status))
    thread.start()
    thread.join(timeout=120)
    return answer["status"]


def test_a_cancelled_deploy_whose_green_sagemaker_never_lets_go_of_fails_saying_why(aws, monkeypatch):
    """Past every bound (here none): the cancel could not be carried out, and the error says why."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]
    register_model(aws, MODEL, endpoint_status="Creating", state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", LONG)
    monkeypatch.setenv("REMOVAL_TIMEOUT_SECONDS", "0")
    monkeypatch.setattr(green_deploy, "CREATING_LIMIT_SECONDS", 0)
    created = request("deploy", MODEL).body
    _waiting_for_green(aws, created["execution_arn"])

    assert _cancel("deploy", created["id"]).status == 202
    wait_for(aws, created["execution_arn"], timeout=120)

    task = read("deploy", created["id"]).body
    assert task["status"] == "failed"
    assert task["error"]["code"] == "endpoint_busy", task["error"]
    assert task["metadata"]["green_discarded"] is False
    assert task["metadata"]["cancelled_by"]
    green = task["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService", green: "Creating"}
    assert _serving()["endpoint_name"] == blue["endpoint_name"]
    assert _slot(aws) is None


def test_a_rollback_that_fails_keeps_the_slot_until_the_repair_settles_the_bake(aws, faults):
    """The slot is never freed while the record names the task's green with a `previous`: a RollBack
    that fails ends the task failed with the slot held, and the repair its execution's end starts rolls
    back and frees it."""
    blue, green = _baking(aws, green_alarms=True)
    faults.fail("sagemaker", "DescribeEndpoint", "AccessDeniedException", times=1)  # RollBack's look at blue

    _trip(aws, f"{bake_alarm_prefix()}{green['id']}-5xx")
    execution = wait_for(aws, green["execution_arn"], timeout=120)

    assert read("deploy", green["id"]).body["status"] == "failed"
    assert _serving()["previous"]["endpoint_name"] == blue["endpoint_name"], "the bake is unresolved"
    assert _slot(aws) is not None, "held while previous is set"
    assert request("deploy", MODEL).status == 409, "no new deploy beside an unresolved bake"

    # The execution's end (EventBridge's event; moto delivers none) starts the model's repair.
    event = load_event("execution_status_change")
    event["detail"].update(executionArn=execution["executionArn"], name=green["id"], status=execution["status"])
    finish_abandoned_handler(event, LambdaContext())
    assert wait_for(aws, repair_of(aws, green["id"]), timeout=120)["status"] == "SUCCEEDED"

    assert read("deploy", green["id"]).body["status"] == "failed", "an ended task keeps its status"
    assert _serving()["endpoint_name"] == blue["endpoint_name"]
    assert _serving().get("previous") is None
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}
    assert _alarm_names(aws) == set()
    assert _slot(aws) is None


def test_a_redeploy_whose_retire_cannot_write_its_ending_is_ended_by_mark_succeeded(aws, faults):
    """RetireBlue ends a redeploy's task itself; its terminal write failing (DynamoDB throttled) is not a
    rollback, nor a failure: blue is retired, and MarkSucceeded writes the same ending with its retries."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]
    fault = faults.plan.add(
        Fault(
            "dynamodb",
            "TransactWriteItems",
            "error",
            times=1,
            code="ProvisionedThroughputExceededException",
            in_function="DeleteEndpointFunction",
        ),
        aws_clients.dynamodb(),
    )

    task = run_task(aws, "deploy", MODEL)

    assert fault.hits == 1, "the fault never fired: the test tests nothing"
    assert task["status"] == "succeeded", task["error"]
    assert executed_states(aws, task["execution_arn"])[-2:] == ["RetireBlue", "MarkSucceeded"]
    assert "retire_blue_error" not in task["metadata"], "blue was retired: only the ending was deferred"
    assert "retire_blue" in task["metadata"]["steps"]
    assert _serving()["endpoint_name"] == task["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {task["metadata"]["endpoint_name"]: "InService"}
    assert blue["endpoint_config_name"] not in endpoint_configs(aws)
    assert _slot(aws) is None


def test_retire_blue_run_again_after_it_ended_the_bake_and_the_task_changes_nothing(aws):
    """Step Functions retries a Lambda.ServiceException even when the function had finished: the second
    run finds the bake ended and the task ended, and neither judges, rolls back nor fails."""
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    done = run_task(aws, "deploy", MODEL, bake_seconds=1)
    assert done["status"] == "succeeded", done["error"]
    retire_input = step_input(aws, done["execution_arn"], "DeleteEndpointFunction")
    assert retire_input["state"] is not None, "the run that ends the task"

    with running_as("DeleteEndpointFunction"):
        again = delete_endpoint_handler(retire_input, LambdaContext())

    assert again["bake_ended_at"] is None, "not ended twice"
    task = read("deploy", done["id"]).body
    assert task["status"] == "succeeded"
    assert task["metadata"]["steps"] == done["metadata"]["steps"], "the ending written once"
    assert task["error"] is None
    assert _serving()["endpoint_name"] == done["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {done["metadata"]["endpoint_name"]: "InService"}
    assert _slot(aws) is None
