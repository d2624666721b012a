"""Executions that end without their own clean-up (an operator's StopExecution, a timeout) are
compensated as a caught failure would be: what they left half done is undone or finished."""

from __future__ import annotations

import time

from finish_abandoned_task.app import lambda_handler as finish_abandoned_handler

from local_stack.emulator import EmulatedAws
from tests.component.workflow_helpers import endpoint_configs, endpoints_of, executed_states, read, request, run_task
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


def _abandon(aws: EmulatedAws, task: dict, status: str = "ABORTED") -> dict:
    """Stop the execution for real, then deliver the status event EventBridge would (moto does not)."""
    aws.client("stepfunctions").stop_execution(executionArn=task["execution_arn"], error="OperatorAbort")
    wait_for(aws, task["execution_arn"])
    event = load_event("execution_status_change")
    event["detail"].update(executionArn=task["execution_arn"], name=task["id"], status=status, error="OperatorAbort")
    finish_abandoned_handler(event, LambdaContext())
    finish_abandoned_handler(event, LambdaContext())  # EventBridge delivers at least once
    route = task["id"].split("-", 1)[0]
    finished: dict = read(route, task["id"]).body
    assert finished["status"] == "failed"
    assert finished["error"]["code"] == "execution_aborted"
    assert status in finished["error"]["message"]
    return finished


def _serving_endpoint() -> str | None:
    response = read("models", MODEL)
    return response.body["endpoint_name"] if response.status == 200 else None


def test_an_aborted_deploy_discards_its_green_and_blue_keeps_serving(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    # Green is Creating at the wait's first look, InService at the next (no event ends the wait).
    register_model(aws, MODEL, creating_polls=1, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", LONG)
    created = request("deploy", MODEL).body
    _waiting_for_green(aws, created)  # green exists, and is InService: nothing refuses its delete

    aborted = _abandon(aws, created)

    assert aborted["metadata"]["compensation"] == "discarded_green"
    assert aborted["metadata"]["green_discarded"] is True
    assert endpoints_of(aws, MODEL) == {blue["metadata"]["endpoint_name"]: "InService"}
    assert created["metadata"]["endpoint_config_name"] not in endpoint_configs(aws)
    assert _serving_endpoint() == blue["metadata"]["endpoint_name"]
    assert request("deploy", MODEL).status == 202, "the slot is free"


def test_a_deploy_aborted_after_its_switch_keeps_green_and_retires_blue(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    monkeypatch.setenv("DRAIN_SECONDS", LONG)
    created = request("deploy", MODEL).body
    _entered(aws, created, "DrainBlue")

    aborted = _abandon(aws, created, status="TIMED_OUT")

    green = created["metadata"]["endpoint_name"]
    assert aborted["metadata"]["compensation"] == "retired_blue"
    assert aborted["metadata"]["green_discarded"] is False
    assert aborted["metadata"]["retired_endpoints"] == sorted(
        {blue["metadata"]["endpoint_name"], blue["metadata"]["endpoint_config_name"]}
    )
    assert endpoints_of(aws, MODEL) == {green: "InService"}
    assert endpoint_configs(aws) == {created["metadata"]["endpoint_config_name"]}
    assert _serving_endpoint() == green


def test_a_green_still_creating_when_its_deploy_is_aborted_is_left_to_the_reconciler(aws):
    register_model(aws, MODEL, endpoint_status="Creating")
    created = request("deploy", MODEL).body
    _waiting_for_green(aws, created)

    aborted = _abandon(aws, created)

    assert aborted["metadata"]["compensation"] == "green_left_to_reconciler"
    assert aborted["metadata"]["discard_green_error"]["code"] == "endpoint_busy"
    assert endpoints_of(aws, MODEL) == {created["metadata"]["endpoint_name"]: "Creating"}
    assert request("deploy", MODEL).status == 202, "the slot is free"


def test_a_delete_aborted_after_unrouting_routes_the_model_back(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    monkeypatch.setenv("DRAIN_SECONDS", LONG)
    created = request("delete", MODEL).body
    _entered(aws, created, "DrainTraffic")
    assert _serving_endpoint() is None, "unrouted before the drain"

    aborted = _abandon(aws, created)

    assert aborted["metadata"]["compensation"] == "routing_restored"
    assert _serving_endpoint() == blue["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {blue["metadata"]["endpoint_name"]: "InService"}
    monkeypatch.setenv("DRAIN_SECONDS", "0")
    assert run_task(aws, "delete", MODEL)["status"] == "succeeded", "the model can still be deleted"


def test_a_delete_aborted_once_its_endpoints_are_going_finishes_the_removal(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    # An orphan SageMaker will not delete yet keeps the removal polling until the test stops it.
    register_model(aws, MODEL, endpoint_status="Creating")
    monkeypatch.setenv("GREEN_POLL_SECONDS", LONG)
    orphan = request("deploy", MODEL).body
    _waiting_for_green(aws, orphan)
    _abandon(aws, orphan)
    created = request("delete", MODEL).body
    _entered(aws, created, "WaitForRemoval")

    aborted = _abandon(aws, created, status="TIMED_OUT")

    assert aborted["metadata"]["compensation"] == "removal_finished"
    assert aborted["metadata"]["removed_endpoint_name"] == blue["metadata"]["endpoint_name"]
    assert _serving_endpoint() is None
    assert endpoints_of(aws, MODEL) == {orphan["metadata"]["endpoint_name"]: "Creating"}
    assert blue["metadata"]["endpoint_config_name"] not in endpoint_configs(aws)
