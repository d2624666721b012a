"""From the tasks table's stream to the bus: one Status Change event per status a task takes (its
creation included), one Step Change event per workflow state it enters, in stream order.

Publishing is at-least-once: a batch that cannot be published is reported back to Lambda from its
first unpublished record, which the event source mapping retries (then bisects, then hands to the
on-failure queue). Subscribers tell a repeat by the task id with its `updated_at`, status and step.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from inference_deploy.adapters.event_bus import EventBus
from inference_deploy.adapters.task_store import item_change
from inference_deploy.models.events import EVENT_SOURCE, TaskEventType
from inference_deploy.models.task import Task
from inference_deploy.observability import logger, metrics


def changes(record: dict[str, Any]) -> list[tuple[TaskEventType, Task]]:
    """What a stream record tells subscribers: nothing for a removal (a task that never started) or a
    write that changed neither the status nor the current step (a step's run being recorded)."""
    images = record.get("dynamodb", {})
    if record.get("eventName") not in ("INSERT", "MODIFY") or "NewImage" not in images:
        return []
    change = item_change(images["NewImage"], images.get("OldImage", {}))
    task = change.task
    found: list[tuple[TaskEventType, Task]] = []
    if change.old_status != task.status.value:
        found.append((TaskEventType.STATUS_CHANGE, task))
    step = task.metadata.current_step
    if step is not None and change.old_step != step:
        found.append((TaskEventType.STEP_CHANGE, task))
    return found


def entry(kind: TaskEventType, task: Task) -> dict[str, Any]:
    return {
        "Source": EVENT_SOURCE,
        "DetailType": kind.value,
        "Detail": task.model_dump_json(),
        "Resources": [task.execution_arn] if task.execution_arn else [],
    }


def publish(records: list[dict[str, Any]], bus: EventBus) -> dict[str, Any]:
    """Publish the batch's events; the partial batch response naming the first record not published."""
    entries: list[dict[str, Any]] = []
    owners: list[int] = []  # the record each entry came from
    for index, record in enumerate(records):
        try:
            found = changes(record)
        except (ValidationError, ValueError, KeyError):
            # A record this code cannot read is a bug to fix, not a reason to block the stream behind it.
            logger.exception("stream record not understood; no event", extra={"event_id": record.get("eventID")})
            metrics.add_metric(name="TaskEventsUnreadable", unit="Count", value=1)
            continue
        for kind, task in found:
            entries.append(entry(kind, task))
            owners.append(index)
    failed = bus.put(entries)
    metrics.add_metric(name="TaskEventsPublished", unit="Count", value=len(entries) - len(failed))
    if not failed:
        return {"batchItemFailures": []}
    first = records[min(owners[i] for i in failed)]
    logger.error(
        "task events not published; the batch is retried from its first unpublished record",
        extra={"failed": len(failed), "event_id": first.get("eventID")},
    )
    metrics.add_metric(name="TaskEventsNotPublished", unit="Count", value=len(failed))
    return {"batchItemFailures": [{"itemIdentifier": first["dynamodb"]["SequenceNumber"]}]}


def detail_schema() -> dict[str, Any]:
    """JSON Schema of every event's `detail` (events.schema.json is generated from it)."""
    schema = Task.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Inference Deployment Task event detail",
        "description": (
            f"`detail` of the events with source `{EVENT_SOURCE}` and detail-type "
            + " or ".join(f"`{kind.value}`" for kind in TaskEventType)
            + ": the task as GET returns it."
        ),
        **schema,
    }


def detail_schema_json() -> str:
    return json.dumps(detail_schema(), indent=2, sort_keys=True) + "\n"
