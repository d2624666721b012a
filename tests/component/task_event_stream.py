"""The tasks table's stream mapped to PublishTaskEventsFunction, as `make run` plays it (local_stack's
StreamPump, with the template's batch size and retries) but drained when a test says, and a subscriber
of the task events bus."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from local_stack.emulator import EmulatedAws
from local_stack.task_events import StreamPump, stream_mappings

PUBLISHER = "PublishTaskEventsFunction"


def task_event_stream(aws: EmulatedAws, *, max_retries: int | None = None) -> StreamPump:
    """The template's mapping of the tasks table's stream to the publisher (its retries unless given). The
    pump invokes the publisher through the emulator's Lambda Invoke: in-process, under its own role."""
    (mapping,) = (m for m in stream_mappings(aws.template.resources) if m.function == PUBLISHER)
    assert mapping.table == "TasksTable", mapping
    if max_retries is not None:
        mapping = dataclasses.replace(mapping, max_retries=max_retries)
    return StreamPump(aws, mapping)


class BusReader:
    """A rule on the task events bus with an SQS target, as a subscriber would set it up."""

    def __init__(self, aws: EmulatedAws) -> None:
        self._sqs = aws.client("sqs")
        events = aws.client("events")
        self.bus = aws.stack.resources["TaskEventsBus"].ref  # the stack creates it
        self.queue = self._sqs.create_queue(QueueName="task-events-subscriber")["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="all-task-events",
            EventBusName=self.bus,
            EventPattern=json.dumps({"source": ["inference-deployment-tasks"]}),
        )
        events.put_targets(Rule="all-task-events", EventBusName=self.bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    def received(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            answer = self._sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
