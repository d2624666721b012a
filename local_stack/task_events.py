"""The tasks table's stream and the task events bus, locally (`make run`, `make events`).

moto records a table's stream but would run a DynamoDB event source mapping's function in Docker:
`StreamPump` plays the mapping instead, in order, through the emulator's Lambda Invoke (so the function
runs in-process as itself: its own environment and role), retrying a batch from the record its partial
batch response names and logging what still fails; `make run` drains it on a thread, tests on demand.
`record_events` puts a rule on each bus the template creates that copies every event to a CloudWatch
Logs group, which `published_events` reads back newest first.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from moto.dynamodb.models import dynamodb_backends

if TYPE_CHECKING:
    from local_stack.stack import DeployedStack

LOG = logging.getLogger(__name__)
EVENTS_LOG_GROUP = "/local-stack/task-events"
RECORD_RULE = "local-stack-record-all"


@dataclass(frozen=True)
class StreamMapping:
    """A table's stream mapped to a function (an event source mapping or SAM `Type: DynamoDB` event)."""

    function: str  # logical id
    table: str  # logical id
    batch_size: int
    max_retries: int


def stream_mappings(resources: Mapping[str, Any]) -> list[StreamMapping]:
    """The template's DynamoDB stream events of its functions and its `AWS::Lambda::EventSourceMapping`s of
    a table's stream to a function (`resources`: Template.resources)."""
    found = []
    for resource in resources.values():
        if resource.type != "AWS::Lambda::EventSourceMapping":
            continue
        properties = resource.properties
        source, function = properties.get("EventSourceArn"), properties.get("FunctionName")
        if not (isinstance(source, dict) and source.get("Fn::GetAtt", [None, None])[1:] == ["StreamArn"]):
            continue
        if not (isinstance(function, dict) and isinstance(function.get("Ref"), str)):
            continue
        found.append(
            StreamMapping(
                function=function["Ref"],
                table=source["Fn::GetAtt"][0],
                batch_size=int(properties.get("BatchSize", 100)),
                max_retries=int(properties.get("MaximumRetryAttempts", 3)),
            )
        )
    for logical_id, resource in resources.items():
        for event in (resource.properties.get("Events") or {}).values():
            if not isinstance(event, dict) or event.get("Type") != "DynamoDB":
                continue
            properties = event.get("Properties") or {}
            stream = properties.get("Stream")
            if not (isinstance(stream, dict) and isinstance(stream.get("Fn::GetAtt"), list)):
                continue
            found.append(
                StreamMapping(
                    function=logical_id,
                    table=stream["Fn::GetAtt"][0],
                    batch_size=int(properties.get("BatchSize", 100)),
                    max_retries=int(properties.get("MaximumRetryAttempts", 3)),
                )
            )
    return found


def stream_records(backend: Any, table_name: str) -> list[Any]:
    """A moto table's stream records so far, looked up each time: a failed transaction makes moto put back
    a copy of the table (and of its stream shard), so a shard kept from before would stop growing."""
    shard = backend.get_table(table_name).stream_shard
    return shard.items if shard is not None else []  # read, never changed: no copy


class Emulation(Protocol):
    """What a pump needs of a running emulator (EmulatedAws, EmulatedAwsServer)."""

    @property
    def region(self) -> str: ...
    @property
    def stack(self) -> DeployedStack: ...
    def client(self, service: str) -> Any: ...


class StreamPump:
    """Delivers a table's stream records to a function, as its event source mapping would."""

    def __init__(self, aws: Emulation, mapping: StreamMapping, *, interval: float = 0.2) -> None:
        table_name = aws.stack.tables[mapping.table].name
        self._backend, self._table_name = dynamodb_backends[aws.stack.account_id][aws.region], table_name
        table = self._backend.get_table(table_name)
        if table.stream_shard is None:
            raise ValueError(f"table {table_name} has no stream")
        self._arn = f"{table.table_arn}/stream/{table.latest_stream_label}"
        self._lambda, self._function = aws.client("lambda"), aws.stack.functions[mapping.function].name
        self._batch_size, self._max_retries, self._interval = mapping.batch_size, mapping.max_retries, interval
        self._position = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.invocations = 0
        self.function_errors: list[dict[str, Any]] = []  # the error payloads of invocations that raised
        self.failed_batches: list[list[dict[str, Any]]] = []

    def start(self) -> None:
        """Drain on a thread every `interval` seconds until stopped."""
        self._thread = threading.Thread(target=self._run, name=f"stream-pump-{self._function}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def drain(self) -> None:
        """Deliver every record written so far, in stream order."""
        while self._position < len(items := stream_records(self._backend, self._table_name)):
            records = items[self._position : self._position + self._batch_size]
            self._position += len(records)
            self._deliver([self._lambda_record(r.to_json()) for r in records])

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.drain()
            except Exception:  # a broken pump must not take `make run` down; say so
                LOG.exception("stream pump for %s failed", self._function)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        for _ in range(self._max_retries + 1):
            self.invocations += 1
            answer = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps({"Records": batch}))
            payload = json.loads(answer["Payload"].read() or b"null")
            if "FunctionError" in answer:
                self.function_errors.append(payload)
                continue  # the whole batch again
            failures = (payload or {}).get("batchItemFailures", []) if isinstance(payload, dict) else []
            if not failures:
                return
            first = min(int(f["itemIdentifier"]) for f in failures)
            batch = [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) >= first]
        LOG.error(
            "%s: %d stream records not delivered after retries (the on-failure destination)", self._function, len(batch)
        )
        self.failed_batches.append(batch)

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        return {**json.loads(json.dumps(record, default=str)), "eventSourceARN": self._arn}


def record_events(events_client: Any, logs_client: Any, bus_names: list[str]) -> None:
    """Copy every event of these buses to EVENTS_LOG_GROUP."""
    logs_client.create_log_group(logGroupName=EVENTS_LOG_GROUP)
    group_arn = logs_client.describe_log_groups(logGroupNamePrefix=EVENTS_LOG_GROUP)["logGroups"][0]["arn"]
    for bus in bus_names:
        events_client.put_rule(
            Name=RECORD_RULE, EventBusName=bus, EventPattern=json.dumps({"source": [{"prefix": ""}]})
        )
        events_client.put_targets(
            Rule=RECORD_RULE, EventBusName=bus, Targets=[{"Id": "log", "Arn": group_arn.removesuffix(":*")}]
        )


def published_events(logs_client: Any, task_id: str | None = None) -> list[dict[str, Any]]:
    """The recorded events, newest first; only those of `task_id` when given."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    for page in logs_client.get_paginator("filter_log_events").paginate(logGroupName=EVENTS_LOG_GROUP):
        for log_event in page["events"]:
            event = json.loads(log_event["message"])
            if task_id is None or event.get("detail", {}).get("id") == task_id:
                found.append((log_event["timestamp"], len(found), event))
    return [event for _, _, event in sorted(found, key=lambda f: (f[0], f[1]), reverse=True)]


def format_events(events: list[dict[str, Any]]) -> str:
    lines = []
    for event in events:
        detail = event.get("detail", {})
        kind = "status" if event.get("detail-type", "").endswith("Status Change") else "step"
        what = detail.get("status") if kind == "status" else (detail.get("metadata") or {}).get("current_step")
        lines.append(f"{event.get('time', '')}  {detail.get('id', '?'):<33}  {kind:<6}  {what}")
    return "\n".join(lines) + ("\n" if lines else "no events recorded\n")
