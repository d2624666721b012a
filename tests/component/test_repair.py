"""The one repair path: whoever notices a task its execution left unfinished (the abandonment handler,
the unstarted-task sweep) only starts the task's repair; the repair converges what exists to the
serving record (rolls back or retires a bake, discards what nobody serves, removes the bake's alarms)
and ends the task with the truth. And a bake's alarms that CloudWatch will not delete never turn a
finished rollout into a failed one."""

from __future__ import annotations

import time
from datetime import timedelta

from fail_unstarted_tasks.app import lambda_handler as sweep_handler
from finish_abandoned_task.app import lambda_handler as finish_abandoned_handler

from inference_deploy.adapters.alarms import made_alarm_names, own_alarm_names
from inference_deploy.models.common import utc_now
from local_stack.emulator import EmulatedAws
from tests.component.workflow_helpers import (
    endpoint_configs,
    endpoints_of,
    executed_states,
    read,
    repair_of,
    repairs_started,
    request,
    run_task,
)
from tests.conftest import LambdaContext, load_event, register_model, wait_for

MODEL = "embed-repair-1"
LONG_BAKE = 3600  # a bake the test interrupts, never sits out


def _entered(aws: EmulatedAws, task: dict, state: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while state not in executed_states(aws, task["execution_arn"]):
        assert time.monotonic() < deadline, f"{task['id']} never entered {state}"
        time.sleep(0.05)


def _stop(aws: EmulatedAws, task: dict) -> None:
    """An operator's StopExecution whose status-change event never reaches the abandonment handler."""
    aws.client("stepfunctions").stop_execution(executionArn=task["execution_arn"], error="OperatorAbort")
    assert wait_for(aws, task["execution_arn"])["status"] == "ABORTED"


def _sweep(monkeypatch, *, minutes_later: float) -> list[str]:
    later = utc_now() + timedelta(minutes=minutes_later)
    with monkeypatch.context() as patched:
        patched.setattr("inference_deploy.logic.stalled.utc_now", lambda: later)
        repairing: list[str] = sweep_handler(load_event("scheduled"), LambdaContext())["repairing"]
    return repairing


def _deliver_abandonment(task: dict) -> None:
    event = load_event("execution_status_change")
    event["detail"].update(executionArn=task["execution_arn"], name=task["id"], status="ABORTED")
    finish_abandoned_handler(event, LambdaContext())


def _alarms(aws: EmulatedAws, task_id: str) -> set[str]:
    found = aws.client("cloudwatch").describe_alarms(AlarmNames=own_alarm_names(task_id))
    return {a["AlarmName"] for a in [*found["MetricAlarms"], *found["CompositeAlarms"]]}


def _slot(aws: EmulatedAws) -> dict | None:
    item = aws.client("dynamodb").get_item(
        TableName=aws.stack.tables["ModelsTable"].name, Key={"embedding_model_id": {"S": MODEL}}
    )
    return item.get("Item", {}).get("active_task")


def _serving() -> dict:
    served: dict = read("models", MODEL).body
    return served


def _baking_deploy(aws: EmulatedAws, monkeypatch) -> tuple[dict, dict]:
    """Blue serves; a second deploy has switched to green and waits in its bake (blue kept as previous)."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    created = request("deploy", MODEL, bake_seconds=LONG_BAKE, green_alarms=True).body
    _entered(aws, created, "AwaitBake")
    return blue, created


def test_the_sweep_repairs_a_deploy_stopped_mid_bake_whose_event_was_lost(aws, monkeypatch):
    """Issue 18, finding 7: the sweep used to fail the task and free the slot with green serving,
    blue kept as previous, and both bake alarms left."""
    blue, created = _baking_deploy(aws, monkeypatch)
    green = created["metadata"]["endpoint_name"]
    _stop(aws, created)
    made = made_alarm_names(created["id"], [], green_alarms=True)
    assert _alarms(aws, created["id"]) == set(made), "the two on green; no composite: no caller's alarms"
    assert _serving()["endpoint_name"] == green

    assert _sweep(monkeypatch, minutes_later=5) == [created["id"]]
    assert wait_for(aws, repair_of(aws, created["id"]), timeout=60)["status"] == "SUCCEEDED"

    task = read("deploy", created["id"]).body
    assert task["status"] == "failed"
    assert task["error"]["code"] == "execution_aborted"
    repair = task["metadata"]["repair"]
    assert repair["rolled_back_to"] == blue["metadata"]["endpoint_name"]
    assert repair["discarded"] == [green]
    assert sorted(repair["alarms_removed"]) == sorted(made_alarm_names(created["id"], [], green_alarms=True))
    assert _alarms(aws, created["id"]) == set()
    assert _serving()["endpoint_name"] == blue["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {blue["metadata"]["endpoint_name"]: "InService"}
    assert created["metadata"]["endpoint_config_name"] not in endpoint_configs(aws)
    assert _slot(aws) is None


def test_a_successful_deploy_is_not_reported_failed_when_delete_alarms_fails(aws, faults):
    """Issue 18, finding 2: DeleteAlarms failing at MarkSucceeded failed the execution, and the task."""
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    faults.fail("cloudwatch", "DeleteAlarms", "InternalFailure", status=500)

    deployed = run_task(aws, "deploy", MODEL, bake_seconds=1, green_alarms=True)

    assert deployed["status"] == "succeeded"
    assert deployed["metadata"]["bake_alarms_left"] == made_alarm_names(deployed["id"], [], green_alarms=True)
    assert _serving()["endpoint_name"] == deployed["metadata"]["endpoint_name"]
    left = made_alarm_names(deployed["id"], [], green_alarms=True)
    assert _alarms(aws, deployed["id"]) == set(left), "left, and said so"
    assert _slot(aws) is None


def test_one_repair_per_task_however_often_it_is_asked_for(aws, monkeypatch):
    """The sweep and two deliveries of the abandonment event start one repair execution between them."""
    blue, created = _baking_deploy(aws, monkeypatch)
    _stop(aws, created)

    _sweep(monkeypatch, minutes_later=5)
    _deliver_abandonment(created)
    _deliver_abandonment(created)
    _sweep(monkeypatch, minutes_later=10)
    wait_for(aws, repair_of(aws, created["id"]), timeout=60)
    _deliver_abandonment(created)
    assert _sweep(monkeypatch, minutes_later=15) == []

    assert repairs_started(aws) == [f"repair-{created['id']}"]
    task = read("deploy", created["id"]).body
    assert task["status"] == "failed"
    assert task["metadata"]["repair"]["rolled_back_to"] == blue["metadata"]["endpoint_name"]
    assert _slot(aws) is None
