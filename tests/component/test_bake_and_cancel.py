"""The bake after a switch (blue kept, alarms watched and green's own metrics read at its end, rolled back
when one trips) and cancelling tasks, through the API handlers and the real state machines on moto.
Nothing here waits on the clock: a bake is ended by moving its end into the past (and its start, when
green's metrics over it matter), an alarm is tripped with SetAlarmState once the execution is in
its bake (AwaitBake, where a watched alarm's event wakes it), and long waits are set where a test
needs the workflow parked (`parked_waits`: the bake's wait times out when released)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cancel_task.app import lambda_handler as cancel_handler
from delete_endpoint.app import lambda_handler as delete_endpoint_handler
from switch_traffic.app import lambda_handler as switch_handler

from inference_deploy import dependencies
from inference_deploy.adapters.alarms import Alarms
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.errors import TaskCancelled
from inference_deploy.naming import bake_alarm_prefix
from local_stack.emulator import EmulatedAws
from local_stack.lambdas import current_function, running_as
from tests.component.workflow_helpers import (
    caller_alarm,
    caller_alarm_name,
    endpoint_configs,
    endpoints_of,
    executed_states,
    read,
    request,
    run_task,
    step_input,
)
from tests.conftest import ApiResponse, LambdaContext, ParkedWaits, call_api, load_event, register_model, wait_for

MODEL = "embed-bake-1"
LONG = "3600"  # a wait the test interrupts, never sits out
CALLER = "arn:aws:sts::123456789012:assumed-role/ml-platform-ci/session"  # userArn of the sample events
USER_ALARM = "search-api-error-rate"


def _entered(aws: EmulatedAws, execution_arn: str, state: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while state not in executed_states(aws, execution_arn):
        assert time.monotonic() < deadline, f"{execution_arn} never entered {state}"
        time.sleep(0.05)


def _waiting_for_green(aws: EmulatedAws, execution_arn: str, timeout: float = 120.0) -> None:
    """AwaitGreen stored its token and looked at green once: the execution waits for an event."""
    deadline = time.monotonic() + timeout
    sfn = aws.client("stepfunctions")
    while not any(
        e["type"] == "TaskSubmitted"
        for e in sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    ):
        assert time.monotonic() < deadline, f"{execution_arn} never waited for green"
        time.sleep(0.05)


def _serving(model_id: str = MODEL) -> dict[str, Any] | None:
    response = read("models", model_id)
    return response.body if response.status == 200 else None


def _cancel(route: str, task_id: str, body: dict[str, Any] | None = None) -> ApiResponse:
    event = load_event(
        f"cancel_{route}",
        path=f"/internal/inference-deployment/{route}/{task_id}/cancel",
        pathParameters={"task_id": task_id},
        body=json.dumps(body) if body is not None else None,
    )
    return call_api(cancel_handler, event)


def _user_alarm(aws: EmulatedAws, name: str = USER_ALARM) -> str:
    return caller_alarm(aws, name)


def _alarm_names(aws: EmulatedAws) -> set[str]:
    found = aws.client("cloudwatch").describe_alarms(AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return {a["AlarmName"] for a in [*found["MetricAlarms"], *found["CompositeAlarms"]]}


def _trip(aws: EmulatedAws, name: str, reason: str = "Threshold Crossed: 7 errors") -> None:
    aws.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=reason)


def _end_bake_now(aws: EmulatedAws, parked: ParkedWaits, model_id: str = MODEL) -> None:
    """The bake's time is up: its end, as the serving record holds it, moved into the past, and its
    wait (parked) timed out."""
    aws.client("dynamodb").update_item(
        TableName=aws.stack.tables["ModelsTable"].name,
        Key={"embedding_model_id": {"S": model_id}},
        UpdateExpression="SET serving.bake_ends_at = :past",
        ConditionExpression="attribute_exists(serving.bake_ends_at)",
        ExpressionAttributeValues={":past": {"S": "2020-01-01T00:00:00Z"}},
    )
    parked.release()


def _baking(aws: EmulatedAws, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A served model (blue) and a second deploy parked in its bake: (blue's metadata, green task)."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]
    created = request("deploy", MODEL, bake_seconds=int(LONG), **fields)
    assert created.status == 202, created.body
    _entered(aws, created.body["execution_arn"], "AwaitBake")
    return blue, created.body


# ---------------------------------------------------------------- the bake


def test_during_a_bake_both_endpoints_serve_and_blue_is_retired_once_it_passes(aws, parked_waits):
    blue, green = _baking(aws)

    record = _serving()
    assert record["endpoint_name"] == green["metadata"]["endpoint_name"], "green takes the traffic"
    assert record["previous"]["endpoint_name"] == blue["endpoint_name"]
    assert record["bake_ends_at"] is not None
    assert endpoints_of(aws, MODEL) == {
        blue["endpoint_name"]: "InService",
        green["metadata"]["endpoint_name"]: "InService",
    }
    assert _alarm_names(aws) == set(), "no alarm unless the request asks: green's metrics are read when it ends"

    during = read("deploy", green["id"]).body
    assert during["status"] == "in_progress"
    assert during["metadata"]["bake_ends_at"] == record["bake_ends_at"]

    _end_bake_now(aws, parked_waits)
    wait_for(aws, green["execution_arn"])

    done = read("deploy", green["id"]).body
    assert done["status"] == "succeeded", done["error"]
    assert "bake_passed" in done["metadata"]["steps"]
    assert executed_states(aws, green["execution_arn"])[-4:] == [
        "SwitchTraffic",
        "IsBaking",
        "AwaitBake",
        "RetireBlue",  # no drain after a bake (it lasts at least the drain time); it ends the task too
    ]
    assert endpoints_of(aws, MODEL) == {green["metadata"]["endpoint_name"]: "InService"}
    record = _serving()
    assert record["endpoint_name"] == green["metadata"]["endpoint_name"]
    assert "previous" not in record or record["previous"] is None


def test_a_bake_shorter_than_the_drain_lasts_the_drain_and_blue_is_retired_straight_after(
    aws, monkeypatch, parked_waits
):
    """Blue is retired straight after a bake, so a bake never ends before requests still on blue have had
    the drain time to finish."""
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    monkeypatch.setenv("DRAIN_SECONDS", LONG)  # parked: the test ends the bake
    created = request("deploy", MODEL, bake_seconds=5).body
    _entered(aws, created["execution_arn"], "AwaitBake")

    record = _serving()
    since = datetime.fromisoformat(record["since"])
    assert datetime.fromisoformat(record["bake_ends_at"]) - since == timedelta(seconds=int(LONG))
    assert read("deploy", created["id"]).body["metadata"]["bake_seconds"] == 5, "the bake asked for"

    _end_bake_now(aws, parked_waits)
    wait_for(aws, created["execution_arn"])

    assert read("deploy", created["id"]).body["status"] == "succeeded"
    assert "DrainBlue" not in executed_states(aws, created["execution_arn"])


def test_a_bake_asked_to_watch_green_makes_alarms_on_its_metrics_and_deletes_them_when_it_passes(aws, parked_waits):
    _, green = _baking(aws, green_alarms=True)
    own = f"{bake_alarm_prefix()}{green['id']}"
    assert _alarm_names(aws) == {f"{own}-5xx", f"{own}-latency"}, (
        "no composite alarm ($0.50 a month) when the request names no alarms: the own alarms' events wake the bake"
    )

    _end_bake_now(aws, parked_waits)
    wait_for(aws, green["execution_arn"])

    done = read("deploy", green["id"]).body
    assert done["status"] == "succeeded"
    assert done["metadata"]["bake_alarms"] == [f"{own}-5xx", f"{own}-latency"]
    assert _alarm_names(aws) == set(), "the bake's own alarms end with it"


def _green_metrics(aws: EmulatedAws, endpoint: str, metric: str, values: list[float], minutes_ago: int) -> None:
    """What SageMaker reports for green: one datapoint a minute, the first `minutes_ago` minutes back."""
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    aws.client("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Timestamp": now - timedelta(minutes=minutes_ago - i),
                "Value": value,
                "Unit": "Count" if metric == "Invocation5XXErrors" else "Microseconds",
            }
            for i, value in enumerate(values)
        ],
    )


def _bake_began_minutes_ago(aws: EmulatedAws, minutes: int, model_id: str = MODEL) -> None:
    """The bake has been running this long: the record's switch time moved back (nothing waits on the clock)."""
    since = (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    aws.client("dynamodb").update_item(
        TableName=aws.stack.tables["ModelsTable"].name,
        Key={"embedding_model_id": {"S": model_id}},
        UpdateExpression="SET serving.since = :since",
        ExpressionAttributeValues={":since": {"S": since}},
    )


@pytest.mark.parametrize(
    ("metric", "values", "breaches"),
    [
        pytest.param("Invocation5XXErrors", [0, 5, 0], True, id="5xx-a-minute-at-the-threshold"),
        pytest.param("Invocation5XXErrors", [4, 4, 4, 4], False, id="5xx-below-the-threshold-each-minute"),
        pytest.param("ModelLatency", [1_500_000, 1_200_000, 1_100_000], True, id="latency-three-slow-minutes"),
        pytest.param(
            "ModelLatency", [1_500_000, 900_000, 1_500_000, 1_500_000], False, id="latency-never-three-in-a-row"
        ),
    ],
)
def test_green_s_own_metrics_over_the_bake_decide_it_when_it_ends(aws, parked_waits, metric, values, breaches):
    """Without alarms on green, its Invocation5XXErrors and ModelLatency are read once when the bake ends,
    by the alarms' rules (the stack's thresholds: 5 errors in a minute; 1,000 ms for three minutes in a row)."""
    blue, green = _baking(aws)
    _bake_began_minutes_ago(aws, 10)
    _green_metrics(aws, green["metadata"]["endpoint_name"], metric, values, minutes_ago=8)
    _green_metrics(aws, blue["endpoint_name"], metric, [50_000_000] * 5, minutes_ago=8)  # blue's: not green's

    _end_bake_now(aws, parked_waits)
    wait_for(aws, green["execution_arn"])

    done = read("deploy", green["id"]).body
    if not breaches:
        assert done["status"] == "succeeded", done["error"]
        assert endpoints_of(aws, MODEL) == {green["metadata"]["endpoint_name"]: "InService"}
        return
    assert done["status"] == "failed"
    assert done["error"]["code"] == "rolled_back"
    assert "own metrics during the bake" in done["error"]["message"]
    assert ("5XX errors" if metric == "Invocation5XXErrors" else "ModelLatency") in done["error"]["message"]
    assert done["metadata"]["rollback_reason"] == "green_metrics"
    assert "RollBackOnGreenMetrics" in executed_states(aws, green["execution_arn"])
    assert _serving()["endpoint_name"] == blue["endpoint_name"], "blue serves again"
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}


def test_green_s_metrics_from_before_the_switch_do_not_count(aws, parked_waits):
    """Errors green answered before it took the traffic (the smoke test's, say) are not the bake's."""
    _, green = _baking(aws)
    _bake_began_minutes_ago(aws, 2)
    _green_metrics(aws, green["metadata"]["endpoint_name"], "Invocation5XXErrors", [9, 9], minutes_ago=6)

    _end_bake_now(aws, parked_waits)
    wait_for(aws, green["execution_arn"])

    assert read("deploy", green["id"]).body["status"] == "succeeded"


def test_green_s_metrics_unreadable_when_the_bake_ends_roll_back(aws, faults, parked_waits):
    """GetMetricData failing past RetireBlue's retries: an unproven green is not kept."""
    blue, green = _baking(aws)
    fault = faults.fail("cloudwatch", "GetMetricData", "Throttling", times=100)

    _end_bake_now(aws, parked_waits)
    wait_for(aws, green["execution_arn"], timeout=300)

    assert fault.hits == 6, "the first call and RetireBlue's five retries"
    done = read("deploy", green["id"]).body
    assert done["status"] == "failed"
    assert done["error"]["code"] == "rolled_back"
    assert done["metadata"]["rollback_reason"] == "check_failed"
    assert _serving()["endpoint_name"] == blue["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}


def test_an_alarm_tripped_during_the_bake_rolls_back_to_blue(aws):
    watched = _user_alarm(aws)
    blue, green = _baking(aws, rollback_alarms=[watched], green_alarms=True)
    own = f"{bake_alarm_prefix()}{green['id']}"
    watch = aws.client("cloudwatch").describe_alarms(AlarmNames=[f"{own}-watch"])
    rule = f'ALARM("{watched}") OR ALARM("{own}-5xx") OR ALARM("{own}-latency")'
    assert watch["CompositeAlarms"][0]["AlarmRule"] == rule, "the caller's alarm wakes the bake through the composite"

    _trip(aws, watched)
    wait_for(aws, green["execution_arn"])

    failed = read("deploy", green["id"]).body
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "rolled_back"
    assert watched in failed["error"]["message"]
    assert "Threshold Crossed: 7 errors" in failed["error"]["message"]
    assert failed["metadata"]["tripped_alarm"]["name"] == watched
    record = _serving()
    assert record["endpoint_name"] == blue["endpoint_name"], "blue serves again"
    assert record.get("previous") is None
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}
    assert green["metadata"]["endpoint_config_name"] not in endpoint_configs(aws)
    assert _alarm_names(aws) == {watched}, "own alarms deleted, the caller's left alone"
    assert request("deploy", MODEL).status == 202, "the slot is free"


def test_the_callers_alarms_alone_are_watched_through_a_composite_alarm_only(aws):
    watched = _user_alarm(aws)
    _, green = _baking(aws, rollback_alarms=[watched])
    own = f"{bake_alarm_prefix()}{green['id']}"
    assert _alarm_names(aws) == {watched, f"{own}-watch"}
    rule = aws.client("cloudwatch").describe_alarms(AlarmNames=[f"{own}-watch"])["CompositeAlarms"][0]["AlarmRule"]
    assert rule == f'ALARM("{watched}")'

    _trip(aws, watched)
    wait_for(aws, green["execution_arn"])

    assert read("deploy", green["id"]).body["error"]["code"] == "rolled_back"
    assert _alarm_names(aws) == {watched}


def test_the_deployments_own_alarm_on_green_trips_a_rollback_too(aws):
    blue, green = _baking(aws, green_alarms=True)

    _trip(aws, f"{bake_alarm_prefix()}{green['id']}-5xx", "Threshold Crossed: 12 5XX errors")
    wait_for(aws, green["execution_arn"])

    failed = read("deploy", green["id"]).body
    assert failed["error"]["code"] == "rolled_back"
    assert _serving()["endpoint_name"] == blue["endpoint_name"]
    assert _alarm_names(aws) == set()


def test_a_first_deploy_bakes_only_when_asked_and_an_alarm_leaves_green_serving(aws):
    register_model(aws, MODEL)
    created = request("deploy", MODEL, bake_seconds=int(LONG), green_alarms=True).body
    _entered(aws, created["execution_arn"], "AwaitBake")
    assert _serving()["previous"] is None

    _trip(aws, f"{bake_alarm_prefix()}{created['id']}-latency", "Threshold Crossed: p50 3 s")
    wait_for(aws, created["execution_arn"], timeout=300)

    failed = read("deploy", created["id"]).body
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "alarm_during_bake"
    assert "left serving" in failed["error"]["message"]
    record = _serving()
    assert record["endpoint_name"] == created["metadata"]["endpoint_name"]
    assert record.get("bake_ends_at") is None
    assert endpoints_of(aws, MODEL) == {created["metadata"]["endpoint_name"]: "InService"}


def test_a_deploy_naming_a_missing_alarm_is_refused_and_nothing_is_written(aws):
    register_model(aws, MODEL)
    existing = _user_alarm(aws)

    missing = caller_alarm_name(aws, "no-such-alarm")
    refused = request("deploy", MODEL, rollback_alarms=[existing, missing])

    assert refused.status == 422
    assert refused.body["code"] == "unknown_alarms"
    assert refused.body["missing_alarms"] == [missing]
    assert missing in refused.body["detail"]
    assert read("deploy-status", MODEL).status == 404
    machine = aws.stack.state_machines["DeployStateMachine"].arn
    assert aws.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []


@pytest.mark.parametrize(
    "fields",
    [
        {"rollback_alarms": [f"alarm-{i}" for i in range(11)]},
        {"rollback_alarms": ["same", "same"]},
        {"bake_seconds": -1},
        {"bake_seconds": 10_801},
    ],
)
def test_bake_fields_out_of_bounds_are_refused(aws, fields):
    register_model(aws, MODEL)  # a deployable model: only the field out of bounds stands in the way

    refused = request("deploy", MODEL, **fields)

    assert refused.status == 422, refused.body
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.body["code"] == "validation_error"
    (field,) = fields
    assert [e["location"] for e in refused.body["errors"]] == [f"body.{field}"], "the problem names the field"
    assert read("deploy-status", MODEL).status == 404
    machine = aws.stack.state_machines["DeployStateMachine"].arn
    assert aws.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []


# ---------------------------------------------------------------- cancel


def test_a_deploy_cancelled_before_its_switch_discards_green_and_blue_keeps_serving(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]
    # Green is Creating at the wait's first look, InService at the next (no event ends the wait).
    register_model(aws, MODEL, creating_polls=1, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", LONG)
    created = request("deploy", MODEL).body
    _waiting_for_green(aws, created["execution_arn"])

    cancelled = _cancel("deploy", created["id"], {"reason": "wrong model version"})

    assert cancelled.status == 202, cancelled.body
    assert cancelled.body["status"] == "cancelling", "the workflow undoes it; the answer does not wait"
    assert cancelled.body["metadata"]["cancelled_by"] == CALLER
    assert read("deploy", created["id"]).body["status"] in {"cancelling", "cancelled"}
    # The cancel woke the green wait (its token failed): the workflow discards green and ends the task.
    ended = wait_for(aws, created["execution_arn"])
    assert ended["status"] == "SUCCEEDED", "it did what was asked: no failed-executions alarm for a cancel"
    states = executed_states(aws, created["execution_arn"])
    assert states[states.index("AwaitGreen") + 1 :] == [
        "BeginDiscard",
        "DiscardGreen",
        "IsGreenDiscarded",
        "MarkCancelled",
        "Cancelled",
    ]
    task = read("deploy", created["id"]).body
    assert task["status"] == "cancelled"
    assert task["error"] is None
    assert task["metadata"]["cancelled_by"] == CALLER
    assert task["metadata"]["cancel_reason"] == "wrong model version"
    assert task["metadata"]["green_discarded"] is True
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}
    assert _serving()["endpoint_name"] == blue["endpoint_name"]

    again = _cancel("deploy", created["id"], {"reason": "another reason"})
    assert again.status == 202
    assert again.body == task, "a second cancel answers the same task"

    # A switch that was already on its way when the cancel landed is refused, not committed.
    with pytest.raises(TaskCancelled):
        switch_handler(
            {
                "task_id": created["id"],
                "embedding_model_id": MODEL,
                "green": {
                    "endpoint_name": created["metadata"]["endpoint_name"],
                    "endpoint_config_name": created["metadata"]["endpoint_config_name"],
                },
                "blue": _serving(),
                "embedding_dimension": 384,
            },
            LambdaContext(),
        )
    assert _serving()["endpoint_name"] == blue["endpoint_name"]
    assert request("deploy", MODEL).status == 202, "the slot is free"


def test_a_deploy_cancelled_during_its_bake_rolls_back_to_blue(aws):
    blue, green = _baking(aws)

    cancelled = _cancel("deploy", green["id"])

    assert cancelled.status == 202, cancelled.body
    assert cancelled.body["status"] == "cancelling"
    wait_for(aws, green["execution_arn"])
    assert executed_states(aws, green["execution_arn"])[-4:] == [
        "RollBackOnCancel",
        "RollBack",
        "MarkCancelled",
        "Cancelled",
    ]
    task = read("deploy", green["id"]).body
    assert task["status"] == "cancelled", task["error"]
    assert task["metadata"]["rollback_reason"] == "cancelled"
    assert task["metadata"]["rolled_back_to"] == blue["endpoint_name"]
    assert task["metadata"]["green_discarded"] is True
    assert "cancel_reason" not in task["metadata"]
    assert _serving()["endpoint_name"] == blue["endpoint_name"]
    assert _serving().get("previous") is None
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}
    assert _alarm_names(aws) == set()
    again = _cancel("deploy", green["id"])
    assert again.status == 202
    assert again.body == task, "a second cancel answers the task as stored"
    assert request("deploy", MODEL).status == 202, "the slot is free"


def test_a_deploy_past_its_switch_without_a_bake_cannot_be_cancelled(aws, monkeypatch):
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    monkeypatch.setenv("DRAIN_SECONDS", LONG)
    created = request("deploy", MODEL).body
    _entered(aws, created["execution_arn"], "DrainBlue")

    refused = _cancel("deploy", created["id"])

    assert refused.status == 409
    assert refused.body["code"] == "task_not_cancellable"
    assert refused.body["task_status"] == "in_progress"
    assert "in_progress" in refused.body["detail"]
    assert _serving()["endpoint_name"] == created["metadata"]["endpoint_name"]
    assert "cancelled_by" not in read("deploy", created["id"]).body["metadata"]


def test_a_finished_task_cannot_be_cancelled(aws):
    register_model(aws, MODEL)
    done = run_task(aws, "deploy", MODEL)

    refused = _cancel("deploy", done["id"])

    assert refused.status == 409
    assert refused.body["task_status"] == "succeeded"
    assert read("deploy", done["id"]).body == done


def test_a_delete_cancelled_before_its_endpoints_go_routes_the_model_again(aws, monkeypatch, parked_waits):
    register_model(aws, MODEL)
    served = run_task(aws, "deploy", MODEL)["metadata"]
    monkeypatch.setenv("DRAIN_SECONDS", LONG)
    created = request("delete", MODEL).body
    _entered(aws, created["execution_arn"], "DrainTraffic")
    assert _serving() is None, "unrouted while it drains"

    cancelled = _cancel("delete", created["id"], {"reason": "still in use"})
    assert cancelled.status == 202, cancelled.body
    assert cancelled.body["status"] == "cancelling"
    parked_waits.release()  # the drain ends; the removal's first step sees the mark

    wait_for(aws, created["execution_arn"])
    assert executed_states(aws, created["execution_arn"])[-5:] == [
        "DeleteEndpoints",
        "RestoreRouting",
        "IsRemovalPastReturn",
        "MarkCancelled",
        "Cancelled",
    ]
    task = read("delete", created["id"]).body
    assert task["status"] == "cancelled", task["error"]
    assert "removal_started_at" not in task["metadata"]
    assert _serving()["endpoint_name"] == served["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {served["endpoint_name"]: "InService"}
    assert _cancel("delete", created["id"]).body == task


def test_a_delete_whose_removal_began_cannot_be_cancelled(aws):
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    removed = run_task(aws, "delete", MODEL)

    refused = _cancel("delete", removed["id"])

    assert refused.status == 409
    assert refused.body["task_status"] == "succeeded"
    assert "removal_started_at" in removed["metadata"], "the point past which it could not be cancelled"


def test_cancel_answers_404_for_an_unknown_task_or_the_other_kind(aws):
    register_model(aws, MODEL)
    deployed = run_task(aws, "deploy", MODEL)

    assert _cancel("deploy", "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V9").status == 404
    assert _cancel("delete", deployed["id"]).status == 404
    assert _cancel("deploy", "not-a-task-id").status == 404


def test_a_cancel_reason_is_bounded(aws):
    assert _cancel("deploy", "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V9", {"reason": "x" * 513}).status == 422
    assert _cancel("deploy", "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V9", {"why": "typo"}).status == 422


def test_a_delete_cancelled_while_its_unroute_is_in_flight_stays_routed(aws, monkeypatch):
    """The unroute lands after the cancel restored routing (from a read made before the write): the
    unroute sees the cancel mark and routes the model back itself."""
    register_model(aws, MODEL)
    served = run_task(aws, "deploy", MODEL)["metadata"]
    in_flight = threading.Event()
    cancelled_first = threading.Event()
    unrouted = threading.Event()
    real_unroute = ModelStore.unroute

    def unroute_after_the_cancel(self: ModelStore, embedding_model_id: str) -> Any:
        in_flight.set()
        assert cancelled_first.wait(timeout=300), "the test never cancelled"
        try:
            return real_unroute(self, embedding_model_id)
        finally:
            unrouted.set()

    monkeypatch.setattr(ModelStore, "unroute", unroute_after_the_cancel)
    created = request("delete", MODEL).body
    # In flight: past the step's own look at the cancel mark, its write not made yet.
    assert in_flight.wait(timeout=300), "the unroute never ran"

    cancelled = _cancel("delete", created["id"], {"reason": "still in use"})
    cancelled_first.set()
    assert unrouted.wait(timeout=300)
    wait_for(aws, created["execution_arn"], timeout=300)

    assert cancelled.status == 202, cancelled.body
    assert read("delete", created["id"]).body["status"] == "cancelled"
    assert executed_states(aws, created["execution_arn"])[-3:] == ["UnrouteModel", "MarkCancelled", "Cancelled"]
    assert _serving() is not None, "the late unroute left the model unrouted"
    assert _serving()["endpoint_name"] == served["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {served["endpoint_name"]: "InService"}


def test_only_a_deploy_naming_rollback_alarms_asks_for_the_alarms_adapter(aws, monkeypatch):
    """Checking no alarms needs no CloudWatch client: a cold start without rollback_alarms builds none."""
    asked_by_requests: list[str] = []
    real = dependencies.alarms

    def alarms() -> Alarms:
        if current_function() == "CreateTaskFunction":  # not a workflow step
            asked_by_requests.append("alarms")
        return real()

    monkeypatch.setattr(dependencies, "alarms", alarms)
    register_model(aws, MODEL)
    register_model(aws, "embed-bake-2")

    plain = request("deploy", MODEL)
    assert plain.status == 202, plain.body
    assert asked_by_requests == []

    named = request("deploy", "embed-bake-2", rollback_alarms=[_user_alarm(aws)])
    assert named.status == 202, named.body
    assert asked_by_requests == ["alarms"]
    wait_for(aws, plain.body["execution_arn"])
    wait_for(aws, named.body["execution_arn"])


def test_a_retire_from_an_execution_started_on_the_old_definition_does_not_judge_green(aws, parked_waits):
    """The old definition passes RetireBlue no execution state and has no Catch for GreenMetricsBreached:
    its bake (which made alarms on green) ends as it always did."""
    blue, green = _baking(aws)
    _bake_began_minutes_ago(aws, 10)
    _green_metrics(aws, green["metadata"]["endpoint_name"], "Invocation5XXErrors", [50], minutes_ago=5)
    switch_input = step_input(aws, green["execution_arn"], "SwitchTrafficFunction")
    old_event = {
        "task_id": green["id"],
        "embedding_model_id": MODEL,
        "blue": switch_input["blue"],
        "bake": switch_input["bake"],
    }

    with running_as("DeleteEndpointFunction"):
        retired = delete_endpoint_handler(old_event, LambdaContext())

    assert retired["bake_ended_at"] is not None, "ended, not judged"
    assert retired["deleted"] is True
    assert _serving()["endpoint_name"] == green["metadata"]["endpoint_name"]
    assert _serving().get("previous") is None
    assert blue["endpoint_name"] not in endpoints_of(aws, MODEL)
