"""Tasks in DynamoDB: a task item per task id, found by id or through the ByModelKind index.

The model's slot lives on the model's item, which only `ModelStore` reads and writes: this store
runs the transactions that take the slot with the task that creates it and free it with the task's
terminal status (so at most one task per model is ever active and a finished task never blocks the
next), composing the entries ModelStore builds for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from inference_deploy.adapters import aws
from inference_deploy.adapters.dynamo import (
    CallFailed,
    cancellation_codes,
    error_code,
    from_item,
    serialize,
    to_item,
    translate,
)
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.errors import (
    ModelBusy,
    ModelHasNoTasks,
    ModelNotServed,
    StoreUnavailable,
    TaskConflict,
    TaskNotFound,
)
from inference_deploy.models.common import format_timestamp, utc_now
from inference_deploy.models.task import (
    ActiveTask,
    GreenWaitRecord,
    Task,
    TaskError,
    TaskKind,
    TaskStatus,
    model_kind_key,
)
from inference_deploy.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

BY_MODEL_KIND_INDEX = "ByModelKind"
GREEN_WAIT_ATTRIBUTE = "green_wait"  # not part of the Task model: the API never shows it
_ACTIVE_STATUSES = {
    ":pending": serialize(TaskStatus.PENDING.value),
    ":running": serialize(TaskStatus.IN_PROGRESS.value),
}
_IS_ACTIVE = "#s IN (:pending, :running)"


def task_to_item(task: Task) -> dict[str, Any]:
    values = task.model_dump(mode="json")
    values["model_kind"] = model_kind_key(task.embedding_model_id, task.kind)
    return to_item(values)


def item_to_task(item: dict[str, Any]) -> Task:
    values = from_item(item)
    values.pop("model_kind", None)
    values.pop(GREEN_WAIT_ATTRIBUTE, None)
    return Task.model_validate(values)


class TaskStore:
    def __init__(self, tasks_table: str, models: ModelStore, client: DynamoDBClient | None = None) -> None:
        self._tasks = tasks_table
        self._models = models
        self._client = client or aws.dynamodb()

    # ---------------------------------------------------------------- creating and taking back

    def create(self, task: Task) -> None:
        """Put the task and claim its model's slot, atomically. ModelBusy names the holder; a delete
        task also needs the model to be served (ModelNotServed), checked in the same transaction."""
        self._recorded_once(
            task,
            [self._put_task(task), self._models.claim_slot_item(task)],
            what=f"create {task.id}",
            on_conflict=lambda: self._explain_conflict(task),
        )

    def reclaim(self, task: Task, holder: ActiveTask, *, fail_holder: TaskError | None) -> None:
        """Create `task` in the slot of a holder whose execution has ended, marking the holder failed
        (when it never wrote a terminal status) in the same transaction."""
        items = [
            self._put_task(task),
            self._models.claim_slot_item(task, replacing=holder.task_id),
        ]
        if fail_holder is not None:
            items.append(self._status_update(holder.task_id, TaskStatus.FAILED, fail_holder, {}))
        self._recorded_once(
            task,
            items,
            what=f"reclaim {holder.task_id} for {task.id}",
            on_conflict=lambda: self._explain_conflict(task, reclaiming=holder),
        )

    def _recorded_once(
        self,
        task: Task,
        items: list[TransactWriteItemTypeDef],
        *,
        what: str,
        on_conflict: Callable[[], Exception],
    ) -> None:
        """Write a new task's transaction, recognising our own write behind a lost answer: the SDK's
        retry of a transaction that landed finds the slot held by this very task, and a timeout may
        hide a commit. Either way the task is recorded, and the caller goes on to start it."""
        try:
            self._transact(items, what=what, on_conflict=on_conflict)
        except ModelBusy as taken:
            if taken.holder.task_id != task.id:
                raise
            logger.warning("the task's own write was retried after its answer was lost", extra={"task_id": task.id})
        except StoreUnavailable:
            if not self._recorded(task.id):
                raise
            logger.warning("the task was recorded though no answer said so", extra={"task_id": task.id})

    def _recorded(self, task_id: str) -> bool:
        try:
            self.get(task_id)
        except TaskNotFound:
            return False
        return True

    def discard_pending(self, task: Task) -> None:
        """Take back a task whose execution never started: no pending orphan, slot free again."""
        self._transact(
            [
                {
                    "Delete": {
                        "TableName": self._tasks,
                        "Key": {"id": {"S": task.id}},
                        "ConditionExpression": "#s = :pending",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":pending": _ACTIVE_STATUSES[":pending"]},
                    }
                },
                self._models.release_slot_item(task.embedding_model_id, task.id),
            ],
            what=f"discard {task.id}",
            on_conflict=None,
        )

    # ---------------------------------------------------------------- reading

    def get(self, task_id: str) -> Task:
        try:
            response = self._client.get_item(TableName=self._tasks, Key={"id": {"S": task_id}}, ConsistentRead=True)
        except CallFailed as exc:
            raise translate(exc, f"read {task_id}") from exc
        if "Item" not in response:
            raise TaskNotFound(f"no task {task_id}")
        return item_to_task(response["Item"])

    def latest_for_model(self, embedding_model_id: str, kind: TaskKind) -> Task:
        """One Query, newest first, one item: cost does not grow with the model's history."""
        try:
            response = self._client.query(
                TableName=self._tasks,
                IndexName=BY_MODEL_KIND_INDEX,
                KeyConditionExpression="model_kind = :mk",
                ExpressionAttributeValues={":mk": {"S": model_kind_key(embedding_model_id, kind)}},
                ScanIndexForward=False,
                Limit=1,
            )
        except CallFailed as exc:
            raise translate(exc, f"latest {kind.value} task of {embedding_model_id}") from exc
        items = response.get("Items", [])
        if not items:
            raise ModelHasNoTasks(f"model {embedding_model_id} has no {kind.value} task")
        return item_to_task(items[0])

    # ---------------------------------------------------------------- the workflow's writes

    def mark_in_progress(self, task_id: str) -> Task:
        """pending -> in_progress; a repeat (Lambda retry) on an in_progress task is a no-op."""
        try:
            response = self._client.update_item(
                **self._status_update(task_id, TaskStatus.IN_PROGRESS, None, {})["Update"], ReturnValues="ALL_NEW"
            )
        except CallFailed as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, f"start {task_id}") from exc
            current = self.get(task_id)
            if current.status is not TaskStatus.IN_PROGRESS:
                raise TaskConflict(f"task {task_id} is {current.status.value}, it cannot start") from exc
            return current
        return item_to_task(response["Attributes"])

    def await_green(self, task_id: str, green_endpoint: str, deadline: str, token: str) -> None:
        """Record the green wait's task token on the running task, for the endpoint's state change
        event to find; a later wait (after a fallback look) replaces it."""
        try:
            self._client.update_item(
                TableName=self._tasks,
                Key={"id": {"S": task_id}},
                UpdateExpression="SET #w = :w",
                ConditionExpression="attribute_exists(id) AND #s = :running",
                ExpressionAttributeNames={"#w": GREEN_WAIT_ATTRIBUTE, "#s": "status"},
                ExpressionAttributeValues={
                    ":w": serialize({"endpoint_name": green_endpoint, "deadline": deadline, "token": token}),
                    ":running": _ACTIVE_STATUSES[":running"],
                },
            )
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise TaskConflict(f"task {task_id} is not running, it cannot wait for green") from exc
            raise translate(exc, f"record the green wait of {task_id}") from exc

    def green_wait(self, task_id: str) -> GreenWaitRecord | None:
        """The task's recorded green wait, if the task exists and is waiting (or last waited)."""
        try:
            response = self._client.get_item(
                TableName=self._tasks,
                Key={"id": {"S": task_id}},
                ProjectionExpression="#w",
                ExpressionAttributeNames={"#w": GREEN_WAIT_ATTRIBUTE},
                ConsistentRead=True,
            )
        except CallFailed as exc:
            raise translate(exc, f"read the green wait of {task_id}") from exc
        recorded = from_item(response.get("Item", {})).get(GREEN_WAIT_ATTRIBUTE)
        return GreenWaitRecord.model_validate(recorded) if recorded else None

    def finish(
        self,
        task_id: str,
        embedding_model_id: str,
        status: TaskStatus,
        error: TaskError | None,
        metadata: dict[str, Any],
    ) -> Task:
        """Write the terminal status and free the model's slot in one transaction. A repeat (Lambda
        retry after success) changes nothing; a slot already taken over by another task is left to it."""
        if not status.is_terminal:
            raise ValueError(f"{status} is not terminal")
        update = self._status_update(task_id, status, error, metadata)
        release = self._models.release_slot_item(embedding_model_id, task_id)
        try:
            self._client.transact_write_items(TransactItems=[update, release])
        except CallFailed as exc:
            codes = cancellation_codes(exc)
            if error_code(exc) != "TransactionCanceledException" or len(codes) != 2:
                raise translate(exc, f"finish {task_id}") from exc
            if codes[0] == "ConditionalCheckFailed":  # already terminal: a retried step
                self._models.release_slot(embedding_model_id, task_id)
            elif codes[1] == "ConditionalCheckFailed":  # the slot is no longer ours
                self._transact([update], what=f"finish {task_id}", on_conflict=None)
            else:
                raise translate(exc, f"finish {task_id}") from exc
        return self.get(task_id)

    # ---------------------------------------------------------------- building blocks

    def _put_task(self, task: Task) -> TransactWriteItemTypeDef:
        return {
            "Put": {
                "TableName": self._tasks,
                "Item": task_to_item(task),
                "ConditionExpression": "attribute_not_exists(id)",
            }
        }

    def _status_update(
        self, task_id: str, status: TaskStatus, error: TaskError | None, metadata: dict[str, Any]
    ) -> TransactWriteItemTypeDef:
        names: dict[str, str] = {"#s": "status", "#u": "updated_at"}
        values: dict[str, Any] = {
            ":s": serialize(status.value),
            ":u": serialize(format_timestamp(utc_now())),
            **_ACTIVE_STATUSES,
        }
        sets = ["#s = :s", "#u = :u"]
        if error is not None:
            names["#e"] = "error"
            values[":e"] = serialize(error.model_dump())
            sets.append("#e = :e")
        if metadata:
            names["#md"] = "metadata"
        for i, (key, value) in enumerate(sorted(metadata.items())):
            names[f"#m{i}"] = key
            values[f":m{i}"] = serialize(value)
            sets.append(f"#md.#m{i} = :m{i}")
        return {
            "Update": {
                "TableName": self._tasks,
                "Key": {"id": {"S": task_id}},
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": f"attribute_exists(id) AND {_IS_ACTIVE}",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _explain_conflict(self, task: Task, reclaiming: ActiveTask | None = None) -> Exception:
        holder, served = self._models.model_state(task.embedding_model_id)
        if holder is not None and (reclaiming is None or holder.task_id != reclaiming.task_id):
            return ModelBusy(holder)
        if task.kind is TaskKind.DELETE and not served:
            return ModelNotServed(f"model {task.embedding_model_id} is not served: there is nothing to delete")
        # the slot changed between our write and this read: the caller may simply retry
        return TaskConflict(f"the active task of {task.embedding_model_id} changed during the request; retry")

    def _transact(
        self,
        items: list[TransactWriteItemTypeDef],
        *,
        what: str,
        on_conflict: Callable[[], Exception] | None,
    ) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except CallFailed as exc:
            if error_code(exc) == "TransactionCanceledException" and "ConditionalCheckFailed" in cancellation_codes(
                exc
            ):
                raise (on_conflict() if on_conflict else TaskConflict(f"{what}: state changed meanwhile")) from exc
            raise translate(exc, what) from exc
