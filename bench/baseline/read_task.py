"""Baseline for GET /deploy/{task_id} and GET /deploy-status/{model}: boto3 and the stdlib only.

A task by id is one consistent GetItem; the latest task of a model is one Query on the ByModelKind
index, newest first, one item. Path parameters are checked against the contract's patterns; the item
goes back as the JSON task. The client is built on the first request, as the service builds its own.
"""

# ruff: noqa: E402 - the imports follow gc.disable()

from __future__ import annotations

import gc

# As the service's handlers do (functions/*/app.py): no collection while the imports run, the import's
# objects frozen after it.
gc.disable()

import json
import os
import re
from decimal import Decimal
from typing import Any

import boto3

MODEL_ID = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
TASK_ID = re.compile(r"^deploy-[0-9A-HJKMNP-TV-Z]{26}$")

_clients: dict[str, Any] = {}


def _dynamodb() -> Any:
    if "dynamodb" not in _clients:
        _clients["dynamodb"] = boto3.client("dynamodb")
    return _clients["dynamodb"]


def _value(attribute: dict[str, Any]) -> Any:
    kind, value = next(iter(attribute.items()))
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "M":
        return {k: _value(v) for k, v in value.items()}
    if kind == "L":
        return [_value(v) for v in value]
    if kind == "NULL":
        return None
    return value


def _task(item: dict[str, Any]) -> dict[str, Any]:
    task = {k: _value(v) for k, v in item.items() if k != "model_kind"}
    task.setdefault("error", None)
    return task


def _answer(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    resource = event.get("resource", "")
    parameters = event.get("pathParameters") or {}
    table = os.environ["TASKS_TABLE_NAME"]
    if resource.endswith("/deploy/{task_id}"):
        task_id = parameters.get("task_id", "")
        if not TASK_ID.match(task_id):
            return _answer(422, {"code": "validation_error"})
        found = _dynamodb().get_item(TableName=table, Key={"id": {"S": task_id}}, ConsistentRead=True)
        if "Item" not in found:
            return _answer(404, {"code": "task_not_found"})
        return _answer(200, _task(found["Item"]))
    if resource.endswith("/deploy-status/{embedding_model_id}"):
        model = parameters.get("embedding_model_id", "")
        if not MODEL_ID.match(model):
            return _answer(422, {"code": "validation_error"})
        items = _dynamodb().query(
            TableName=table,
            IndexName="ByModelKind",
            KeyConditionExpression="model_kind = :mk",
            ExpressionAttributeValues={":mk": {"S": f"{model}#deploy"}},
            ScanIndexForward=False,
            Limit=1,
        )["Items"]
        if not items:
            return _answer(404, {"code": "model_has_no_tasks"})
        return _answer(200, _task(items[0]))
    return _answer(404, {"code": "route_not_found"})


gc.freeze()
gc.enable()
