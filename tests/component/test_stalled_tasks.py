"""A task whose execution never started does not stay pending: the scheduled sweep hands it to its
repair, which fails it and frees its model's slot; the sweep never touches a task whose execution runs
or is still being started."""

from __future__ import annotations

from datetime import timedelta

from fail_unstarted_tasks.app import lambda_handler as sweep_handler

from inference_deploy.models.common import utc_now
from tests.component.workflow_helpers import read, repair_of, repairs_started, request
from tests.conftest import LambdaContext, load_event, register_model, wait_for

MODEL = "embed-stalled-1"


def _sweep(monkeypatch, *, minutes_later: float) -> list[str]:
    later = utc_now() + timedelta(minutes=minutes_later)
    monkeypatch.setattr("inference_deploy.logic.stalled.utc_now", lambda: later)
    return sweep_handler(load_event("scheduled"), LambdaContext())["repairing"]


def _slot(aws) -> dict | None:
    item = aws.client("dynamodb").get_item(
        TableName=aws.stack.tables["ModelsTable"].name, Key={"embedding_model_id": {"S": MODEL}}
    )
    return item.get("Item", {}).get("active_task")


def _stranded_task(aws, faults) -> str:
    """The create request recorded the task, then could neither start its execution nor take it back."""
    register_model(aws, MODEL)
    faults.lose_answer("stepfunctions", "StartExecution", "connection_error")
    faults.lose_answer(
        "dynamodb", "TransactWriteItems", "connection_error", when=lambda p: "Delete" in p["TransactItems"][0]
    )
    refused = request("deploy", MODEL)
    assert refused.status == 503
    task_id = _slot(aws)["M"]["task_id"]["S"]
    assert read("deploy", task_id).body["status"] == "pending"
    return task_id


def test_a_task_whose_execution_never_started_is_failed_and_its_slot_freed(aws, faults, monkeypatch):
    stranded = _stranded_task(aws, faults)

    assert _sweep(monkeypatch, minutes_later=5) == [stranded]
    assert wait_for(aws, repair_of(aws, stranded), timeout=60)["status"] == "SUCCEEDED"

    task = read("deploy", stranded).body
    assert task["status"] == "failed"
    assert task["error"]["code"] == "execution_not_started"
    assert _slot(aws) is None
    monkeypatch.undo()
    assert request("deploy", MODEL).status == 202


def test_a_task_still_being_started_is_left_alone(aws, faults, monkeypatch):
    stranded = _stranded_task(aws, faults)

    assert _sweep(monkeypatch, minutes_later=0) == []

    assert read("deploy", stranded).body["status"] == "pending"


def test_a_running_execution_is_never_touched(aws, monkeypatch):
    register_model(aws, MODEL, endpoint_status="Creating")
    running = request("deploy", MODEL).body

    assert _sweep(monkeypatch, minutes_later=5) == []

    assert read("deploy", running["id"]).body["status"] in ("pending", "in_progress")
    assert _slot(aws)["M"]["task_id"]["S"] == running["id"]
    aws.client("stepfunctions").stop_execution(executionArn=running["execution_arn"])


def test_the_sweep_is_safe_to_run_again(aws, faults, monkeypatch):
    stranded = _stranded_task(aws, faults)
    first = _sweep(monkeypatch, minutes_later=5)
    again = _sweep(monkeypatch, minutes_later=10)  # the repair holds the slot now (running or done)
    wait_for(aws, repair_of(aws, stranded), timeout=60)

    assert (first, again) == ([stranded], [])
    assert repairs_started(aws) == [f"repair-{stranded}"]
    assert read("deploy", stranded).body["error"]["code"] == "execution_not_started"
