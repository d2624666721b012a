"""Status-change and step-change events: every transition of a deploy and a delete reaches a subscriber
of the task events bus, with the task as GET returns it; a publish EventBridge refuses is retried and
never lost."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from botocore.exceptions import ClientError

from inference_deploy.adapters import aws as clients
from inference_deploy.logic.task_events import detail_schema_json
from local_stack.faults import Fault
from tests.component.task_event_stream import BusReader, task_event_stream
from tests.component.test_task_progress import ran
from tests.component.workflow_helpers import read, request
from tests.conftest import register_model, serve_directly, wait_for

ROOT = Path(__file__).resolve().parents[2]
MODEL = "embed-events-1"
STATUS = "Inference Deployment Task Status Change"
STEP = "Inference Deployment Task Step Change"


def of_task(events: list[dict[str, Any]], task_id: str, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in events if e["detail"]["id"] == task_id and e["detail-type"] == detail_type]


def run(aws: Any, route: str) -> dict[str, Any]:
    created = request(route, MODEL)
    assert created.status == 202, created.body
    wait_for(aws, created.body["execution_arn"])
    return created.body


def test_every_status_and_step_of_a_deploy_and_a_delete_is_published(aws):
    bus = BusReader(aws)
    mapping = task_event_stream(aws)
    register_model(aws, MODEL)
    deployed = run(aws, "deploy")
    removed = run(aws, "delete")

    mapping.drain()
    events = bus.received()

    schema = json.loads((ROOT / "events.schema.json").read_text())
    assert all(e["source"] == "inference-deployment-tasks" for e in events)
    for event in events:
        jsonschema.validate(event["detail"], schema)
    for task, kind in ((deployed, "deploy"), (removed, "delete")):
        statuses = of_task(events, task["id"], STATUS)
        assert Counter(d["status"] for d in statuses) == Counter(["pending", "in_progress", "succeeded"]), kind
        steps = of_task(events, task["id"], STEP)
        assert Counter(d["metadata"]["current_step"] for d in steps) == Counter(ran(aws, kind, task["execution_arn"]))
        final = read(kind, task["id"]).body
        assert next(d for d in statuses if d["status"] == "succeeded")["id"] == final["id"]
    assert mapping.function_errors == []
    assert mapping.failed_batches == []


def test_events_written_after_a_refused_transaction_are_still_published(aws):
    """A cancelled transaction on the tasks table makes moto put back a copy of the table, stream shard
    included: the stream is read from the table as it is now, so later records still reach the bus."""
    bus = BusReader(aws)
    mapping = task_event_stream(aws)
    register_model(aws, MODEL)
    dynamodb = aws.client("dynamodb")
    table = aws.stack.tables["TasksTable"].name
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"id": {"S": "no-such-task"}},
                        "ConditionExpression": "attribute_exists(id)",
                    }
                }
            ]
        )
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"

    deployed = run(aws, "deploy")
    mapping.drain()

    statuses = of_task(bus.received(), deployed["id"], STATUS)
    assert Counter(d["status"] for d in statuses) == Counter(["pending", "in_progress", "succeeded"])
    assert mapping.function_errors == []


def test_a_failed_deploy_publishes_its_failure_with_the_error(aws):
    bus = BusReader(aws)
    mapping = task_event_stream(aws)
    register_model(aws, MODEL, endpoint_status="Failed")
    task = run(aws, "deploy")

    mapping.drain()
    failed = [d for d in of_task(bus.received(), task["id"], STATUS) if d["status"] == "failed"]

    assert len(failed) == 1
    assert failed[0]["error"]["code"] == "green_failed"
    assert mapping.function_errors == []


def test_a_publish_eventbridge_refuses_is_retried_and_not_lost(aws, faults):
    bus = BusReader(aws)
    mapping = task_event_stream(aws)
    register_model(aws, MODEL)
    task = run(aws, "deploy")
    # Three failed calls: the publisher's own tries all fail, Lambda retries the batch from its first record.
    fault = faults.plan.add(
        Fault("events", "PutEvents", "error", times=3, code="ThrottlingException"), clients.events()
    )

    mapping.drain()
    events = bus.received()

    assert fault.hits == 3
    assert mapping.invocations >= 2
    statuses = of_task(events, task["id"], STATUS)
    # At least once: the retry repeats what the batch's later PutEvents calls (10 entries each) published;
    # subscribers tell a repeat by status and updated_at, and none may be missing.
    distinct = {(d["status"], d["updated_at"]) for d in statuses}
    assert Counter(status for status, _ in distinct) == Counter(["pending", "in_progress", "succeeded"])
    assert mapping.function_errors == []
    assert mapping.failed_batches == []


def test_a_batch_that_keeps_failing_is_reported_not_dropped(aws, faults):
    BusReader(aws)
    retries = 2  # fewer than the template's: each try waits out the publisher's own backoff
    mapping = task_event_stream(aws, max_retries=retries)
    serve_directly(aws, MODEL)
    run(aws, "delete")
    faults.plan.add(Fault("events", "PutEvents", "error", times=1_000, code="InternalException"), clients.events())

    mapping.drain()

    assert mapping.failed_batches, "the mapping hands the batch to its on-failure destination"
    assert all(batch for batch in mapping.failed_batches)
    # Each batch was tried once and retried `retries` times, every time reported, never a crash.
    assert mapping.invocations == len(mapping.failed_batches) * (retries + 1)
    assert mapping.function_errors == []


def test_the_event_schema_beside_openapi_is_generated_from_the_task_model():
    assert (ROOT / "events.schema.json").read_text() == detail_schema_json(), "run `make openapi`"
