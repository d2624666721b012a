"""Status reads as history grows: what `GET /deploy-status/{model}` reads when the model has 10, 1,000,
100,000 earlier tasks (and as many tasks of other models). It must stay flat.

The child (`python -m bench.history`) records one real task through the service's create handler,
then seeds copies of that item with older ids through BatchWriteItem, and reads the status through
the real read handler. A botocore `after-call.dynamodb.Query` hook on the handler's own client reads
Count, ScannedCount and ConsumedCapacity from the actual response; a `provide-client-params` hook adds
ReturnConsumedCapacity=INDEXES to that Query (the adapter does not ask for it; it changes nothing
else). Moto reports a constant 1.0 capacity unit, so the bench also prices the read by DynamoDB's
rule: a Query on a global secondary index is eventually consistent, 0.5 RCU per 4 KB read, rounded
up over the items read.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bench.aws_server import AwsServer
from bench.common import (
    FUNCTIONS_DIR,
    LAYER_DIR,
    MODEL,
    LambdaContext,
    lambda_environment,
    own_model,
    route_event,
    run_child,
    summarize,
    write_json,
)
from bench.dynamo_size import item_size, read_units

BATCH = 25
OTHER_MODELS = 100
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def run(server: AwsServer, *, sizes: Sequence[int], reads: int, xray_daemon: str) -> dict[str, Any]:
    env = lambda_environment(
        server.environment,
        function="bench-history",
        code_dir=FUNCTIONS_DIR,
        memory_mb=server.memory_of("read_task"),
        xray_daemon=xray_daemon,
        tracing=False,
    )
    args = ["--sizes", ",".join(str(size) for size in sizes), "--reads", str(reads)]
    timeout = 120 + sum(sizes) * 2 * 0.002 + reads * len(sizes) * 10
    result: dict[str, Any] = run_child("bench.history", args, env=env, name="history", timeout=timeout)
    return result


# ---------------------------------------------------------------- child


def _ulid(millis: int) -> str:
    value = millis << 80 | secrets.randbits(80)
    return "".join(ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


class _Seeder:
    """Copies of one task item with older ids, for the model and for other models, by BatchWriteItem."""

    def __init__(self, client: Any, table: str, template: Mapping[str, Any], newest_ms: int) -> None:
        self._client = client
        self._table = table
        self._template = template
        self._next_ms = newest_ms - 10**9  # every seeded task is older than the real one
        self.items = 0
        self.seconds = 0.0

    def seed(self, model: str, count: int) -> None:
        started = time.perf_counter()
        batch: list[dict[str, Any]] = []
        for i in range(count):
            batch.append({"PutRequest": {"Item": self._item(model if model else f"bench-other-{i % OTHER_MODELS}")}})
            if len(batch) == BATCH:
                self._write(batch)
                batch = []
        if batch:
            self._write(batch)
        self.items += count
        self.seconds += time.perf_counter() - started

    def _item(self, model: str) -> dict[str, Any]:
        self._next_ms += 1
        item = copy.deepcopy(dict(self._template))
        task_id = f"deploy-{_ulid(self._next_ms)}"
        item["id"] = {"S": task_id}
        item["embedding_model_id"] = {"S": model}
        item["model_kind"] = {"S": f"{model}#deploy"}
        item["status"] = {"S": "succeeded"}
        return item

    def _write(self, batch: list[dict[str, Any]]) -> None:
        pending = {self._table: batch}
        while pending:
            pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def child(sizes: Sequence[int], reads: int) -> dict[str, Any]:
    sys.path[:0] = [str(FUNCTIONS_DIR), str(LAYER_DIR)]
    import boto3  # noqa: PLC0415 - the child's imports; the parent stays stdlib-only
    from create_task.app import lambda_handler as create  # noqa: PLC0415
    from read_task.app import lambda_handler as read  # noqa: PLC0415

    from bench.baseline import read_task as baseline_read  # noqa: PLC0415
    from inference_deploy.adapters import aws  # noqa: PLC0415
    from inference_deploy.models.settings import StoreSettings, load_settings  # noqa: PLC0415

    context = LambdaContext()
    own_model(os.environ["AWS_ENDPOINT_URL"], MODEL)  # the caller deploys a model it owns
    created = create(route_event("create"), context)
    if created["statusCode"] != 202:
        raise RuntimeError(f"could not create the model's task: {created['body']}")
    newest = json.loads(created["body"])["id"]
    table = load_settings(StoreSettings).tasks_table_name
    seeder_client = boto3.client("dynamodb")  # not the handler's: its calls are not counted
    template = seeder_client.get_item(TableName=table, Key={"id": {"S": newest}}, ConsistentRead=True)["Item"]
    seeder = _Seeder(seeder_client, table, template, newest_ms=int(time.time() * 1000))

    queries: list[dict[str, Any]] = []
    handler_client = aws.dynamodb()

    def ask_for_capacity(params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "INDEXES")

    handler_client.meta.events.register("provide-client-params.dynamodb.Query", ask_for_capacity)
    handler_client.meta.events.register("after-call.dynamodb.Query", lambda parsed, **_: queries.append(parsed))

    status_event = route_event("status")
    rows = []
    seeded = 0
    for size in sizes:
        seeder.seed(MODEL, size - seeded)
        seeder.seed("", size - seeded)
        seeded = size
        service_ms: list[float] = []
        baseline_ms: list[float] = []
        for _ in range(reads):
            queries.clear()
            started = time.perf_counter()
            answer = read(copy.deepcopy(status_event), context)
            service_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            baseline_answer = baseline_read.lambda_handler(copy.deepcopy(status_event), context)
            baseline_ms.append((time.perf_counter() - started) * 1000)
            if answer["statusCode"] != 200 or json.loads(answer["body"])["id"] != newest:
                raise RuntimeError(f"the status read did not return the newest task: {answer['body'][:300]}")
            if baseline_answer["statusCode"] != 200:
                raise RuntimeError(f"the baseline status read failed: {baseline_answer['body'][:300]}")
        response = queries[-1]
        items = response.get("Items", [])
        read_bytes = sum(item_size(item) for item in items)
        rows.append(
            {
                "earlier_tasks_of_model": size,
                "tasks_of_other_models": size,
                "table_items": 1 + 2 * size,
                "queries_per_read": len(queries),
                "count": response.get("Count"),
                "scanned_count": response.get("ScannedCount"),
                "consumed_capacity_moto": response.get("ConsumedCapacity"),
                "item_bytes_read": read_bytes,
                "read_request_units_dynamodb_rule": read_units(read_bytes, consistent=False),
                "service_ms": summarize(service_ms),
                "baseline_ms": summarize(baseline_ms),
            }
        )
    return {
        "model": MODEL,
        "rows": rows,
        "seeding": {
            "items": seeder.items,
            "seconds": seeder.seconds,
            "items_per_second": seeder.items / seeder.seconds if seeder.seconds else None,
            "method": f"BatchWriteItem, {BATCH} items a call, over loopback",
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history")
    parser.add_argument("--sizes", required=True)
    parser.add_argument("--reads", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    write_json(args.out, child([int(size) for size in args.sizes.split(",")], args.reads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
