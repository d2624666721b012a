"""Executions that end without their own clean-up (an operator's StopExecution, a timeout) hand their
task to its repair: one execution of the repair workflow converges what they left to the serving record
and ends the task with the truth, while the task holds its model's slot."""

from __future__ import annotations

import time

from finish_abandoned_task.app import lambda_handler as finish_abandoned_handler

from local_stack.emulator import EmulatedAws
from tests.component.workflow_helpers import (
    endpoint_configs,
    endpoints_of,
    executed_states,
    read,
    repair_of,
    request,
    run_task,
)
from tests.conftest import LambdaContext, load_event, register_model, wait_for

MODEL = "embed-abandon-1"
LONG = "3600"  # a wait the test interrupts, never sits out


def _entered(aws: EmulatedAws, task: dict, state: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while state not in executed_states(aws, task["execution_arn"]):
        assert time.monotonic() < deadline, f"{task['id']} never entered {state}"
        time.sleep(0.05)


def _waiting_for_green(aws: EmulatedAws, task: dict, timeout: float = 60.0) -> None:
    """AwaitGreen stored its token and looked at green once: the execution waits for an event."""
    deadline = time.monotonic() + timeout
    sfn = aws.client("stepfunctions")
    while not any(
        e["type"] == "TaskSubmitted"
        for e in sfn.get_execution_history(executionArn=task["execution_arn"], maxResults=1000)["events"]
    ):
        assert time.monotonic() < deadline, f"{task['id']} never waited for green"
        time.sleep(0.05)


def abandon(aws: EmulatedAws, task: dict, status: str = "ABORTED", deliveries: int = 2) -> dict:
    """Stop the execution for real, deliver the status event EventBridge would (moto does not; at least
    once, so twice), wait for the repair it starts, and return the task as GET answers it then."""
    aws.client("stepfunctions").stop_execution(executionArn=task["execution_arn"], error="OperatorAbort")
    wait_for(aws, task["execution_arn"])
    event = load_event("execution_status_change")
    event["detail"].update(executionArn=task["execution_arn"], name=task["id"], status=status, error="OperatorAbort")
    for _ in range(deliveries):
        finish_abandoned_handler(event, LambdaContext())
    repaired = wait_for(aws, repair_of(aws, task["id"]), timeout=60)
    assert repaired["status"] == "SUCCEEDED", repaired
    finished: dict = read(task["id"].split("-", 1)[0], task["id"]).body
    return finished


def _serving_endpoint() -> str | None:
    response = read("models", MODEL)
    return response.body["endpoint_name"] if response.status == 200 else None


def _failed_aborted(task: dict, status: str = "ABORTED") -> None:
    assert task["status"] == "failed"
    assert task["error"]["code"] == "execution_aborted"
    assert status in task["error"]["message"]


def test_an_aborted_deploy_discards_its_green_and_blue_keeps_serving(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    # Green is Creating at the wait's first look, InService at the next (no event ends the wait).
    register_model(aws, MODEL, creating_polls=1, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", LONG)
    created = request("deploy", MODEL).body
    _waiting_for_green(aws, created)

    aborted = abandon(aws, created)

    _failed_aborted(aborted)
    assert aborted["metadata"]["repair"]["discarded"] == [created["metadata"]["endpoint_name"]]
    assert endpoints_of(aws, MODEL) == {blue["metadata"]["endpoint_name"]: "InService"}
    assert created["metadata"]["endpoint_config_name"] not in endpoint_configs(aws)
    assert _serving_endpoint() == blue["metadata"]["endpoint_name"]
    assert request("deploy", MODEL).status == 202, "the slot is free"


def test_a_deploy_aborted_after_its_switch_retires_blue_and_succeeds(aws, monkeypatch):
    """Green serves with no previous: the deploy's intended end holds, so the task says so."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    monkeypatch.setenv("DRAIN_SECONDS", LONG)
    created = request("deploy", MODEL).body
    _entered(aws, created, "DrainBlue")

    aborted = abandon(aws, created, status="TIMED_OUT")

    green = created["metadata"]["endpoint_name"]
    assert aborted["status"] == "succeeded"
    assert aborted["error"] is None
    assert aborted["metadata"]["repair"]["retired"] == [blue["metadata"]["endpoint_name"]]
    assert endpoints_of(aws, MODEL) == {green: "InService"}
    assert endpoint_configs(aws) == {created["metadata"]["endpoint_config_name"]}
    assert _serving_endpoint() == green


def test_a_green_still_creating_when_its_deploy_is_aborted_is_deleted_once_sagemaker_allows(aws, monkeypatch):
    """Not left to the reconciler: the repair waits while SageMaker refuses the delete, then deletes it."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    register_model(aws, MODEL, creating_polls=4, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", LONG)
    created = request("deploy", MODEL).body
    _waiting_for_green(aws, created)
    assert endpoints_of(aws, MODEL)[created["metadata"]["endpoint_name"]] == "Creating"

    aborted = abandon(aws, created)

    _failed_aborted(aborted)
    repair = aborted["metadata"]["repair"]
    assert repair["discarded"] == [created["metadata"]["endpoint_name"]]
    assert repair["rounds"] >= 2, "it waited for SageMaker at least once"
    assert repair["left"] == []
    assert endpoints_of(aws, MODEL) == {blue["metadata"]["endpoint_name"]: "InService"}
    assert created["metadata"]["endpoint_config_name"] not in endpoint_configs(aws)
    assert request("deploy", MODEL).status == 202, "the slot is free"


def test_a_delete_aborted_after_unrouting_routes_the_model_back(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    monkeypatch.setenv("DRAIN_SECONDS", LONG)
    created = request("delete", MODEL).body
    _entered(aws, created, "DrainTraffic")
    assert _serving_endpoint() is None, "unrouted before the drain"

    aborted = abandon(aws, created)

    _failed_aborted(aborted)
    assert aborted["metadata"]["repair"]["routing_restored"] is True
    assert _serving_endpoint() == blue["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {blue["metadata"]["endpoint_name"]: "InService"}
    monkeypatch.setenv("DRAIN_SECONDS", "0")
    assert run_task(aws, "delete", MODEL)["status"] == "succeeded", "the model can still be deleted"
