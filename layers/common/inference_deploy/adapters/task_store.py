"""Tasks in DynamoDB: one item per task, and the ByModelKind index for "latest task of a model"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from inference_deploy.adapters import aws
from inference_deploy.adapters.dynamo import from_item, serialize, to_item, translate
from inference_deploy.errors import (
    ModelHasNoTasks,
    TaskNotFound,
)
from inference_deploy.models.common import format_timestamp, utc_now
from inference_deploy.models.task import Task, TaskError, TaskKind, TaskStatus, model_kind_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BY_MODEL_KIND_INDEX = "ByModelKind"
_ACTIVE = [serialize(TaskStatus.PENDING.value), serialize(TaskStatus.IN_PROGRESS.value)]


def task_to_item(task: Task) -> dict[str, Any]:
    values = task.model_dump(mode="json")
    values["model_kind"] = model_kind_key(task.embedding_model_id, task.kind)
    return to_item(values)


def item_to_task(item: dict[str, Any]) -> Task:
    values = from_item(item)
    values.pop("model_kind", None)
    return Task.model_validate(values)


class TaskStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client or aws.dynamodb()

    def put_new(self, task: Task) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=task_to_item(task),
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as exc:
            raise translate(exc, f"create {task.id}") from exc

    def discard_pending(self, task_id: str) -> None:
        """Remove a task whose execution never started, so no task stays pending forever."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"id": {"S": task_id}},
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":pending": serialize(TaskStatus.PENDING.value)},
            )
        except ClientError as exc:
            raise translate(exc, f"discard {task_id}") from exc

    def get(self, task_id: str) -> Task:
        try:
            response = self._client.get_item(TableName=self._table, Key={"id": {"S": task_id}}, ConsistentRead=True)
        except ClientError as exc:
            raise translate(exc, f"read {task_id}") from exc
        if "Item" not in response:
            raise TaskNotFound(f"no task {task_id}")
        return item_to_task(response["Item"])

    def latest_for_model(self, embedding_model_id: str, kind: TaskKind) -> Task:
        """One Query, newest first, one item: cost does not grow with the model's history."""
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName=BY_MODEL_KIND_INDEX,
                KeyConditionExpression="model_kind = :mk",
                ExpressionAttributeValues={":mk": {"S": model_kind_key(embedding_model_id, kind)}},
                ScanIndexForward=False,
                Limit=1,
            )
        except ClientError as exc:
            raise translate(exc, f"latest {kind.value} task of {embedding_model_id}") from exc
        items = response.get("Items", [])
        if not items:
            raise ModelHasNoTasks(f"model {embedding_model_id} has no {kind.value} task")
        return item_to_task(items[0])

    def mark_in_progress(self, task_id: str) -> Task:
        """pending -> in_progress; a repeat (Lambda retry) on an in_progress task is a no-op."""
        return self._update_status(task_id, TaskStatus.IN_PROGRESS, None, {})

    def finish(self, task_id: str, status: TaskStatus, error: TaskError | None, metadata: dict[str, Any]) -> Task:
        """Write a terminal status once; a repeat after success returns the stored task unchanged."""
        if not status.is_terminal:
            raise ValueError(f"{status} is not terminal")
        return self._update_status(task_id, status, error, metadata)

    def _update_status(
        self, task_id: str, status: TaskStatus, error: TaskError | None, metadata: dict[str, Any]
    ) -> Task:
        names: dict[str, str] = {"#s": "status", "#u": "updated_at"}
        values: dict[str, Any] = {
            ":s": serialize(status.value),
            ":u": serialize(format_timestamp(utc_now())),
            ":a0": _ACTIVE[0],
            ":a1": _ACTIVE[1],
        }
        sets = ["#s = :s", "#u = :u"]
        if error is not None:
            names["#e"] = "error"
            values[":e"] = serialize(error.model_dump())
            sets.append("#e = :e")
        for i, (key, value) in enumerate(sorted(metadata.items())):
            names[f"#m{i}"] = key
            values[f":m{i}"] = serialize(value)
            sets.append(f"#md.#m{i} = :m{i}")
        if metadata:
            names["#md"] = "metadata"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": task_id}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(id) AND #s IN (:a0, :a1)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            old: Any = exc.response.get("Item")
            if isinstance(old, dict):
                current = item_to_task(old)
                if current.status == status or (status == TaskStatus.IN_PROGRESS and current.status.is_terminal):
                    return current
            raise translate(exc, f"set {task_id} {status.value}") from exc
        return item_to_task(response["Attributes"])
