"""Plays the DynamoDB event source mapping of PublishTaskEventsFunction on moto: reads the tasks
table's stream in order, hands batches to the publisher, and on a reported failure retries the batch
from the record it names, as Lambda does (moto's own mapping would run the function in Docker)."""

from __future__ import annotations

import json
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from publish_task_events.app import lambda_handler as publish_handler

from local_stack.emulator import EmulatedAws
from local_stack.lambdas import running_as
from local_stack.task_events import stream_records
from tests.conftest import LambdaContext


class StreamMapping:
    def __init__(self, aws: EmulatedAws, *, batch_size: int = 50, max_retries: int = 10) -> None:
        # Read from moto's table itself: its endpoint for DynamoDB Streams does not answer in-process.
        self._backend = dynamodb_backends[aws.stack.account_id][aws.region]
        self._table_name = aws.stack.tables["TasksTable"].name
        table = self._backend.get_table(self._table_name)
        assert table.stream_shard is not None, "the tasks table must have a stream"
        self._arn = f"{table.table_arn}/stream/{table.latest_stream_label}"
        self._position = 0
        self.batch_size, self.max_retries = batch_size, max_retries
        self.invocations = 0
        self.failed_batches: list[list[dict[str, Any]]] = []

    def drain(self) -> None:
        """Deliver every record written so far, in stream order."""
        while self._position < len(items := stream_records(self._backend, self._table_name)):
            records = items[self._position : self._position + self.batch_size]
            self._position += len(records)
            self._deliver([self._lambda_record(r.to_json()) for r in records])

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        for _ in range(self.max_retries + 1):
            self.invocations += 1
            with running_as("PublishTaskEventsFunction"):  # as the mapping invokes it: under its own role
                answer = publish_handler({"Records": batch}, LambdaContext())
            failures = answer.get("batchItemFailures", [])
            if not failures:
                return
            first = min(int(f["itemIdentifier"]) for f in failures)
            batch = [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) >= first]
        self.failed_batches.append(batch)

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        # As Lambda sends them: JSON, with the source stream's ARN.
        return {**json.loads(json.dumps(record, default=str)), "eventSourceARN": self._arn}


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
