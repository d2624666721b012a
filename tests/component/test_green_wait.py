"""The event-driven green wait on the real deploy ASL: SageMaker's state change event completes the
wait's task token; a lost event is made up by the wait's timeout; the deadline still holds."""

from __future__ import annotations

import json
import threading
import time

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from inference_deploy import dependencies
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.logic import green_deploy
from inference_deploy.models.task import GreenWaitRecord
from local_stack.emulator import EmulatedAws
from local_stack.sagemaker import DEFAULT_FAILURE_REASON, settle_endpoint
from tests.component.workflow_helpers import endpoints_of, executed_states, green_waits, read, request
from tests.conftest import register_model, wait_for

MODEL = "embed-green-wait"


def _start_deploy(aws: EmulatedAws) -> dict:
    created = request("deploy", MODEL)
    assert created.status == 202, created.body
    return created.body


def _green_wait_of(aws: EmulatedAws, task_id: str, timeout: float = 30.0) -> dict:
    """Wait until AwaitGreen has stored its task token on the task item (a condition, not a delay)."""
    dynamodb = aws.client("dynamodb")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = dynamodb.get_item(
            TableName=aws.stack.tables["TasksTable"].name, Key={"id": {"S": task_id}}, ConsistentRead=True
        ).get("Item", {})
        if "green_wait" in item:
            return item["green_wait"]["M"]
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never stored its green wait")


def _submitted(aws: EmulatedAws, execution_arn: str, timeout: float = 30.0) -> None:
    """Wait until AwaitGreen's Lambda has returned (TaskSubmitted): the token is stored and green looked at.
    The token is stored before the look, so a status settled as soon as the token shows could be seen by it."""
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while not any(
        e["type"] == "TaskSubmitted"
        for e in sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    ):
        assert time.monotonic() < deadline, "AwaitGreen's Lambda never returned"
        time.sleep(0.05)


def _settle(aws: EmulatedAws, endpoint_name: str, status: str) -> None:
    settle_endpoint(sagemaker_backends[DEFAULT_ACCOUNT_ID][aws.region], endpoint_name, status)


def _finished(aws: EmulatedAws, created: dict) -> dict:
    wait_for(aws, created["execution_arn"])
    task = read("deploy", created["id"])
    assert task.status == 200
    return task.body


def test_green_turning_in_service_sends_the_event_that_ends_the_wait(aws):
    register_model(aws, MODEL, endpoint_status="Creating")  # stays Creating until settled below
    created = _start_deploy(aws)
    wait = _green_wait_of(aws, created["id"])

    _settle(aws, wait["endpoint_name"]["S"], "InService")
    task = _finished(aws, created)

    assert task["status"] == "succeeded", task["error"]
    states = executed_states(aws, created["execution_arn"])
    assert green_waits(aws, created["execution_arn"]) == 1, "the event, not a timeout, ended the wait (300 s)"
    assert states.index("SwitchTraffic") > states.index("AwaitGreen")
    assert endpoints_of(aws, MODEL) == {task["metadata"]["endpoint_name"]: "InService"}


def test_green_failing_sends_the_event_that_discards_it(aws):
    register_model(aws, MODEL, endpoint_status="Creating")
    created = _start_deploy(aws)
    wait = _green_wait_of(aws, created["id"])

    _settle(aws, wait["endpoint_name"]["S"], "Failed")
    task = _finished(aws, created)

    assert task["status"] == "failed"
    assert task["error"]["code"] == "green_failed"
    assert DEFAULT_FAILURE_REASON in task["error"]["message"], (
        "SageMaker's reason reaches the task (SendTaskFailure's cause)"
    )
    assert task["metadata"]["green_discarded"] is True
    states = executed_states(aws, created["execution_arn"])
    assert green_waits(aws, created["execution_arn"]) == 1
    assert "SwitchTraffic" not in states
    assert states[-4:] == ["DiscardGreen", "IsGreenDiscarded", "MarkFailed", "Failed"]
    assert endpoints_of(aws, MODEL) == {}


def test_a_lost_event_is_made_up_by_the_look_after_the_wait_times_out(aws, monkeypatch):
    register_model(aws, MODEL, endpoint_status="Creating", state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "1")
    dependencies.reset()
    created = _start_deploy(aws)
    wait = _green_wait_of(aws, created["id"])
    _submitted(aws, created["execution_arn"])  # the first look saw Creating: only a later look sees InService

    _settle(aws, wait["endpoint_name"]["S"], "InService")  # no event is published
    task = _finished(aws, created)

    assert task["status"] == "succeeded", task["error"]
    assert green_waits(aws, created["execution_arn"]) >= 2


def test_green_in_service_before_the_token_is_stored_is_seen_by_the_wait_itself(aws):
    # Its event fires at CreateEndpoint, before any token exists (here it is not sent at all): the
    # look right after storing the token must end the wait, long before the 300 s fallback.
    register_model(aws, MODEL, state_change_events="false")

    task = _finished(aws, _start_deploy(aws))

    assert task["status"] == "succeeded", task["error"]
    assert green_waits(aws, task["execution_arn"]) == 1


@pytest.mark.parametrize("describe_misses", [0, 2], ids=["visible", "not-visible-at-first-look"])
def test_an_in_service_event_handled_before_the_token_is_stored_does_not_leave_the_wait_to_the_fallback(
    aws, monkeypatch, describe_misses
):
    # Green is InService at CreateEndpoint and its event goes out at once; AwaitGreen is held back until
    # that event has been handled (and found no wait). The wait's own look (repeated while DescribeEndpoint
    # does not show the new endpoint yet) must complete it: one wait, not a 300 s timeout and a second one.
    register_model(aws, MODEL, describe_misses=describe_misses)
    event_found: list[GreenWaitRecord | None] = []
    event_handled = threading.Event()
    read_wait, store_wait = TaskStore.green_wait, TaskStore.await_green

    def green_wait(store: TaskStore, task_id: str) -> GreenWaitRecord | None:
        found = read_wait(store, task_id)
        event_found.append(found)
        event_handled.set()
        return found

    def await_green(store: TaskStore, *args: str) -> None:
        assert event_handled.wait(timeout=30), "green's IN_SERVICE event was never handled"
        store_wait(store, *args)

    monkeypatch.setattr(TaskStore, "green_wait", green_wait)
    monkeypatch.setattr(TaskStore, "await_green", await_green)

    task = _finished(aws, _start_deploy(aws))

    assert event_found == [None], "the event came before the token was stored"
    assert task["status"] == "succeeded", task["error"]
    assert green_waits(aws, task["execution_arn"]) == 1, "the wait's look, not the fallback, ended it"
    assert endpoints_of(aws, MODEL) == {task["metadata"]["endpoint_name"]: "InService"}


def test_a_late_or_repeated_event_after_the_wait_ended_changes_nothing(aws):
    register_model(aws, MODEL)
    task = _finished(aws, _start_deploy(aws))
    assert task["status"] == "succeeded", task["error"]
    endpoint = aws.client("sagemaker").describe_endpoint(EndpointName=task["metadata"]["endpoint_name"])
    event = {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-12-02T06:00:00Z",
        "region": aws.region,
        "resources": [endpoint["EndpointArn"]],
        "detail": {
            "EndpointName": endpoint["EndpointName"],
            "EndpointArn": endpoint["EndpointArn"],
            "EndpointStatus": "IN_SERVICE",
        },
    }

    answer = aws.client("lambda").invoke(FunctionName="ResumeGreenWaitFunction", Payload=json.dumps(event))

    assert "FunctionError" not in answer, answer["Payload"].read()
    assert json.loads(answer["Payload"].read()) == {
        "endpoint_name": endpoint["EndpointName"],
        "waiting": True,
        "settled": False,  # its token was completed by the wait's own look: nothing waits on it
    }
    assert read("deploy", task["id"]).body == task


def test_a_green_still_creating_at_its_deadline_fails_the_task_at_the_next_look(aws, monkeypatch):
    register_model(aws, MODEL, endpoint_status="Creating", state_change_events="false")
    monkeypatch.setenv("GREEN_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "1")
    monkeypatch.setenv("REMOVAL_TIMEOUT_SECONDS", "0")
    monkeypatch.setattr(green_deploy, "CREATING_LIMIT_SECONDS", 0)  # green never leaves Creating here
    dependencies.reset()

    task = _finished(aws, _start_deploy(aws))

    assert task["status"] == "failed"
    assert task["error"]["code"] == "green_timeout"
    assert green_waits(aws, task["execution_arn"]) >= 2
    assert "SwitchTraffic" not in executed_states(aws, task["execution_arn"])
