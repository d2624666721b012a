"""Tasks in DynamoDB: a task item per task id, found by id or through the ByModelKind index.

The model's slot lives on the model's item, which only `ModelStore` reads and writes: this store
runs the transactions that take the slot with the task that creates it and free it with the task's
terminal status (so at most one task per model is ever active and a finished task never blocks the
next), composing the entries ModelStore builds for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

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
from inference_deploy.adapters.model_store import ModelOwner, ModelStore, ServingRecord
from inference_deploy.errors import (
    ModelBusy,
    ModelHasNoTasks,
    ModelNotServed,
    StoreUnavailable,
    TaskCancelled,
    TaskConflict,
    TaskNotCancellable,
    TaskNotFound,
)
from inference_deploy.models.common import format_timestamp, utc_now
from inference_deploy.models.task import (
    CANCELLED_BY,
    ActiveTask,
    BakeWaitRecord,
    DeployMetadata,
    GreenWaitRecord,
    StepRun,
    Task,
    TaskError,
    TaskKind,
    TaskMetadata,
    TaskStatus,
    metadata_key,
    model_kind_key,
)
from inference_deploy.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

BY_MODEL_KIND_INDEX = "ByModelKind"
GREEN_WAIT_ATTRIBUTE = "green_wait"  # not part of the Task model: the API never shows it
BAKE_WAIT_ATTRIBUTE = "bake_wait"  # nor this
_ACTIVE_STATUSES = {
    ":pending": serialize(TaskStatus.PENDING.value),
    ":running": serialize(TaskStatus.IN_PROGRESS.value),
    ":cancelling": serialize(TaskStatus.CANCELLING.value),
}
_IS_ACTIVE = "#s IN (:pending, :running, :cancelling)"
# Only these may start: a task being cancelled never goes back to in_progress.
_STARTABLE = {k: v for k, v in _ACTIVE_STATUSES.items() if k != ":cancelling"}
# Timestamps a write sets once (if_not_exists), marking a point the workflow passed.
FirstOnly = Literal["green_requested_at", "removal_started_at"]
# The metadata keys the update expressions below name (checked against the metadata models).
_CURRENT_STEP = metadata_key("current_step")
_CURRENT_STEP_STARTED_AT = metadata_key("current_step_started_at")
_STEP_RUNS = metadata_key("step_runs")
_REMOVAL_STARTED_AT = metadata_key("removal_started_at")
for _key in get_args(FirstOnly):
    metadata_key(_key)


@dataclass(frozen=True)
class StepStart:
    """What recording a step's start learnt: the run it extends, and whether a cancel is in progress."""

    extends: int | None
    cancelling: bool


def task_to_item(task: Task) -> dict[str, Any]:
    values = task.model_dump(mode="json")
    values["model_kind"] = model_kind_key(task.embedding_model_id, task.kind)
    return to_item(values)


def item_to_task(item: dict[str, Any]) -> Task:
    values = from_item(item)
    values.pop("model_kind", None)
    values.pop(GREEN_WAIT_ATTRIBUTE, None)
    values.pop(BAKE_WAIT_ATTRIBUTE, None)
    return Task.model_validate(values)


@dataclass(frozen=True)
class TaskChange:
    """A tasks table stream record's images: the task as written, and its status and step before."""

    task: Task
    old_status: str | None
    old_step: str | None


def item_change(new_image: dict[str, Any], old_image: dict[str, Any]) -> TaskChange:
    """Decode a stream record's images (the old one empty on an insert). Only the old status and step
    are read from the old image: an older item need not be a valid task to tell what changed."""
    old = from_item(old_image)
    old_metadata = old.get("metadata")
    old_step = old_metadata.get(_CURRENT_STEP) if isinstance(old_metadata, dict) else None
    return TaskChange(
        task=item_to_task(new_image),
        old_status=old.get("status"),
        old_step=old_step if isinstance(old_step, str) else None,
    )


class TaskStore:
    def __init__(self, tasks_table: str, models: ModelStore, client: DynamoDBClient | None = None) -> None:
        self._tasks = tasks_table
        self._models = models
        self._client = client or aws.dynamodb()

    @property
    def models(self) -> ModelStore:
        """The model store whose slot entries this store's transactions compose."""
        return self._models

    # ---------------------------------------------------------------- creating and taking back

    def create(self, task: Task, *, pin: ModelOwner | None = None) -> None:
        """Put the task and claim its model's slot (pinning its owner when none is yet), atomically.
        ModelBusy names the holder; a delete task also needs the model to be served (ModelNotServed),
        checked in the same transaction."""
        self._recorded_once(
            task,
            [self._put_task(task), self._models.claim_slot_item(task, pin=pin)],
            what=f"create {task.id}",
            on_conflict=lambda: self._explain_conflict(task),
        )

    def reclaim(self, task: Task, holder: ActiveTask, *, pin: ModelOwner | None = None) -> None:
        """Create `task` in the slot of a holder that names no task (nothing of it to end or clean up:
        a holder that exists is handed to its repair instead, logic/tasks.py)."""
        items = [
            self._put_task(task),
            self._models.claim_slot_item(task, replacing=holder.task_id, pin=pin),
        ]
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

    def page_for_model(
        self, embedding_model_id: str, kind: TaskKind, *, after: str | None, limit: int
    ) -> tuple[list[Task], bool]:
        """Up to `limit` tasks of one kind, newest first, older than task `after` (from the newest when None),
        and whether older ones remain: one Query of `limit` + 1 items, whatever the model's history."""
        key = model_kind_key(embedding_model_id, kind)
        request: dict[str, Any] = {
            "TableName": self._tasks,
            "IndexName": BY_MODEL_KIND_INDEX,
            "KeyConditionExpression": "model_kind = :mk",
            "ExpressionAttributeValues": {":mk": {"S": key}},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after is not None:
            request["ExclusiveStartKey"] = {"id": {"S": after}, "model_kind": {"S": key}}
        try:
            response = self._client.query(**request)
        except CallFailed as exc:
            raise translate(exc, f"{kind.value} tasks of {embedding_model_id}") from exc
        tasks = [item_to_task(item) for item in response.get("Items", [])]
        more = len(tasks) > limit or "LastEvaluatedKey" in response
        return tasks[:limit], more

    # ---------------------------------------------------------------- the workflow's writes

    def mark_in_progress(self, task_id: str) -> Task:
        """pending -> in_progress; a repeat (Lambda retry) on an in_progress task is a no-op; a task
        cancelled before its execution began raises TaskCancelled (never back to in_progress)."""
        update = self._status_update(task_id, TaskStatus.IN_PROGRESS, None, {}, from_statuses=_STARTABLE)["Update"]
        try:
            response = self._client.update_item(**update, ReturnValues="ALL_NEW")
        except CallFailed as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, f"start {task_id}") from exc
            current = self.get(task_id)
            if current.status is TaskStatus.CANCELLING:
                raise TaskCancelled(f"task {task_id} was cancelled before its execution began") from exc
            if current.status is not TaskStatus.IN_PROGRESS:
                raise TaskConflict(f"task {task_id} is {current.status.value}, it cannot start") from exc
            return current
        return item_to_task(response["Attributes"])

    def await_green(self, task_id: str, green_endpoint: str, deadline: str, token: str) -> None:
        """Record the green wait's task token on the running task, for the endpoint's state change
        event to find; a later wait (after a fallback look) replaces it."""
        record = {"endpoint_name": green_endpoint, "deadline": deadline, "token": token}
        self._record_wait(task_id, GREEN_WAIT_ATTRIBUTE, record, "green")

    def await_bake(self, task_id: str, token: str, alarms: list[str]) -> None:
        """Record the bake wait's task token (and the alarms it watches) on the running task, for the
        alarm state change event and a cancel to find; refused once a cancel was recorded. The green wait's
        record goes: that wait is over, and every later write of the task would carry it."""
        record = {"token": token, "alarms": alarms}
        self._record_wait(task_id, BAKE_WAIT_ATTRIBUTE, record, "bake", ends=GREEN_WAIT_ATTRIBUTE)

    def _record_wait(
        self, task_id: str, attribute: str, record: dict[str, Any], wait: str, *, ends: str | None = None
    ) -> None:
        """Store a wait's record (its task token first) on the task while it runs, removing the record of
        the wait it follows (`ends`). A refused write is a cancel that was recorded first and found no
        token to fail (this wait must not begin), or a task that is no longer running."""
        names = {"#w": attribute, "#s": "status", **({"#e": ends} if ends else {})}
        try:
            self._client.update_item(
                TableName=self._tasks,
                Key={"id": {"S": task_id}},
                UpdateExpression="SET #w = :w" + (" REMOVE #e" if ends else ""),
                ConditionExpression="attribute_exists(id) AND #s = :running",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":w": serialize(record), ":running": _ACTIVE_STATUSES[":running"]},
            )
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                if self.get(task_id).status is TaskStatus.CANCELLING:
                    raise TaskCancelled(f"task {task_id} was cancelled before its {wait} wait") from exc
                raise TaskConflict(f"task {task_id} is not running, it cannot begin its {wait} wait") from exc
            raise translate(exc, f"record the {wait} wait of {task_id}") from exc

    def bake_wait(self, task_id: str) -> BakeWaitRecord | None:
        """The task's recorded bake wait, if the task exists and is baking (or baked)."""
        recorded = self._waits(task_id).get(BAKE_WAIT_ATTRIBUTE)
        return BakeWaitRecord.model_validate(recorded) if recorded else None

    def _waits(self, task_id: str) -> dict[str, Any]:
        """The task's recorded waits (green and bake), read consistently: a token stored before is seen."""
        try:
            response = self._client.get_item(
                TableName=self._tasks,
                Key={"id": {"S": task_id}},
                ProjectionExpression="#g, #b",
                ExpressionAttributeNames={"#g": GREEN_WAIT_ATTRIBUTE, "#b": BAKE_WAIT_ATTRIBUTE},
                ConsistentRead=True,
            )
        except CallFailed as exc:
            raise translate(exc, f"read the waits of {task_id}") from exc
        return from_item(response.get("Item", {}))

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
        metadata: TaskMetadata,
    ) -> Task:
        """Write the terminal status and free the model's slot in one transaction. A repeat (Lambda
        retry after success) changes nothing; a slot already taken over by another task is left to it."""
        if not status.is_terminal:
            raise ValueError(f"{status} is not terminal")
        update = self._status_update(task_id, status, error, metadata.updates())
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

    # ---------------------------------------------------------------- live progress

    def step_started(self, task_id: str, step: str, at: datetime) -> StepStart:
        """Before a workflow state's step runs, one consistent read (no write: `step_ended` names the state
        and records its run in one write): whether the task is being cancelled, and, when the task's last
        recorded run is of this same state (a fallback round, a retry), that run's index, for `step_ended`
        to extend it instead of adding one per round. A task that is no longer active is left as it is."""
        del at  # the run's start goes into the one write after it
        try:
            response = self._client.get_item(
                TableName=self._tasks,
                Key={"id": {"S": task_id}},
                ConsistentRead=True,
                ProjectionExpression="#s, #md.#cs, #md.#sr",
                ExpressionAttributeNames={"#md": "metadata", "#cs": _CURRENT_STEP, "#sr": _STEP_RUNS, "#s": "status"},
            )
        except CallFailed as exc:
            raise translate(exc, f"progress of {task_id}") from exc
        before = from_item(response.get("Item", {}))
        if before.get("status") not in {
            TaskStatus.PENDING.value,
            TaskStatus.IN_PROGRESS.value,
            TaskStatus.CANCELLING.value,
        }:
            return StepStart(extends=None, cancelling=False)
        cancelling = before.get("status") == TaskStatus.CANCELLING.value
        metadata = TaskMetadata.model_validate(before.get("metadata") or {})
        runs = metadata.step_runs or []
        if runs and metadata.current_step == step and runs[-1].step == step:
            return StepStart(extends=len(runs) - 1, cancelling=cancelling)
        return StepStart(extends=None, cancelling=cancelling)

    def step_ended(self, task_id: str, run: StepRun, *, extends: int | None = None) -> None:
        """Record a finished run of a state: appended to the task's step runs, or, when it `extends` the
        run at that index (the same state, again), that run's end, count and error are updated. Not
        conditional on the status: the step that writes the terminal status records its own run after."""
        names = {"#md": "metadata", "#sr": _STEP_RUNS, "#cs": _CURRENT_STEP, "#csa": _CURRENT_STEP_STARTED_AT}
        current = {":cs": serialize(run.step), ":csa": serialize(format_timestamp(run.started_at))}
        update: dict[str, Any]
        if extends is None:
            update = {
                "UpdateExpression": "SET #md.#sr = list_append(if_not_exists(#md.#sr, :none), :run), "
                "#md.#cs = :cs, #md.#csa = :csa",
                "ConditionExpression": "attribute_exists(id)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {
                    ":run": serialize([run.model_dump(mode="json", exclude_none=True)]),
                    ":none": serialize([]),
                    **current,
                },
            }
        else:
            at = f"#md.#sr[{extends}]"
            values = {
                ":end": serialize(format_timestamp(run.ended_at)),
                ":one": serialize(1),
                ":step": serialize(run.step),
            }
            values.update(current)
            expression = (
                f"SET {at}.#end = :end, {at}.#runs = if_not_exists({at}.#runs, :one) + :one, "
                "#md.#cs = :cs, #md.#csa = :csa"
            )
            if run.error is None:
                expression += f" REMOVE {at}.#err"
            else:
                expression += f", {at}.#err = :err"
                values[":err"] = serialize(run.error)
            update = {
                "UpdateExpression": expression,
                "ConditionExpression": f"{at}.#step = :step",
                "ExpressionAttributeNames": {
                    **names,
                    "#end": "ended_at",
                    "#runs": "runs",
                    "#err": "error",
                    "#step": "step",
                },
                "ExpressionAttributeValues": values,
            }
        try:
            self._client.update_item(TableName=self._tasks, Key={"id": {"S": task_id}}, **update)
        except CallFailed as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, f"progress of {task_id}") from exc

    # ---------------------------------------------------------------- cancel, and the commits it races

    def switch_serving(
        self, task_id: str, green: ServingRecord, expected: ServingRecord | None, bake_ends_at: str | None
    ) -> None:
        """The forward switch, in one transaction with a check that the task is not cancelled (a cancel
        and a switch never both land). A bake's end time goes into the task's metadata in the same write."""
        task_entry = self._unless_cancelled(
            task_id, DeployMetadata(bake_ends_at=bake_ends_at) if bake_ends_at else None
        )
        try:
            self._client.transact_write_items(TransactItems=[self._models.switch_item(green, expected), task_entry])
        except CallFailed as exc:
            codes = cancellation_codes(exc)
            if error_code(exc) == "TransactionCanceledException" and len(codes) == 2:
                if codes[1] == "ConditionalCheckFailed":
                    raise TaskCancelled(f"task {task_id} was cancelled before its switch") from exc
                if codes[0] == "ConditionalCheckFailed":
                    raise ModelStore.switch_refused(green, expected) from exc
            raise translate(exc, f"switch {green.embedding_model_id}") from exc

    def end_bake(self, task_id: str, embedding_model_id: str) -> None:
        """The bake passed: green keeps the traffic and the record forgets blue, unless the task was
        cancelled (or rolled back) meanwhile."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    self._models.end_bake_item(embedding_model_id, task_id),
                    self._unless_cancelled(task_id, None),
                ]
            )
        except CallFailed as exc:
            if error_code(exc) == "TransactionCanceledException" and "ConditionalCheckFailed" in cancellation_codes(
                exc
            ):
                raise TaskCancelled(f"task {task_id} was cancelled or rolled back during its bake") from exc
            raise translate(exc, f"end the bake of {task_id}") from exc

    def mark_creating_green(self, task_id: str) -> None:
        """Record that green is about to be created, unless the task was cancelled: a cancel either lands
        first (and this raises TaskCancelled, nothing created) or finds the mark and the create after it
        checks again (cancel_requested), so a green made under a cancel is discarded, never left."""
        try:
            self._client.update_item(
                **self._unless_cancelled(task_id, None, first_only=("green_requested_at",))["Update"]
            )
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise TaskCancelled(f"task {task_id} was cancelled before green was created") from exc
            raise translate(exc, f"record the green request of {task_id}") from exc

    def record_metadata(self, task_id: str, metadata: TaskMetadata) -> None:
        """Set these metadata keys of an active task (a step's findings that its failure would otherwise
        lose: the terminal write sets only the keys it has, so these stay)."""
        names = {"#md": "metadata", "#s": "status"}
        attribute_values: dict[str, Any] = dict(_ACTIVE_STATUSES)
        sets = []
        values = metadata.updates()
        for i, (key, value) in enumerate(sorted(values.items())):
            names[f"#k{i}"] = key
            attribute_values[f":v{i}"] = serialize(value)
            sets.append(f"#md.#k{i} = :v{i}")
        try:
            self._client.update_item(
                TableName=self._tasks,
                Key={"id": {"S": task_id}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=f"attribute_exists(id) AND {_IS_ACTIVE}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attribute_values,
            )
        except CallFailed as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, f"record {', '.join(sorted(values))} of {task_id}") from exc
            logger.warning("task no longer active: findings not recorded", extra={"keys": sorted(values)})

    def mark_removal_started(self, task_id: str) -> None:
        """A delete's point of no return (its first endpoint delete), unless it was cancelled first."""
        try:
            self._client.update_item(
                **self._unless_cancelled(task_id, None, first_only=("removal_started_at",))["Update"]
            )
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise TaskCancelled(f"task {task_id} was cancelled before its removal began") from exc
            raise translate(exc, f"begin the removal of {task_id}") from exc

    def cancel_requested(self, task_id: str) -> bool:
        """Whether a cancel of the task was recorded (a consistent read: a mark written before is seen)."""
        return self.get(task_id).metadata.cancelled_by is not None

    def wait_token(self, task_id: str) -> str | None:
        """The token of the wait the task is in (or last was in), for a cancel to wake it: its bake's
        once it baked (the green wait ended before), else its green wait's."""
        waits = self._waits(task_id)
        recorded = waits.get(BAKE_WAIT_ATTRIBUTE) or waits.get(GREEN_WAIT_ATTRIBUTE)
        token = recorded.get("token") if isinstance(recorded, dict) else None
        return token if isinstance(token, str) else None

    def request_cancel(self, task: Task, cancellation: TaskMetadata) -> bool:
        """Mark the task `cancelling` and record who cancelled and why, only while the task can still be
        undone: active; a deploy not
        switched, or switched and baking (its record still names blue as previous); a delete whose
        removal has not begun. One transaction, so a switch or a removal either lands before it (and
        this refuses) or not at all. False if an earlier cancel was recorded (the first one stays)."""
        names = {"#s": "status", "#md": "metadata", "#cb": CANCELLED_BY, "#u": "updated_at"}
        values: dict[str, Any] = {**_ACTIVE_STATUSES, ":now": serialize(format_timestamp(utc_now()))}
        sets = ["#s = :cancelling", "#u = :now"]
        for i, (key, value) in enumerate(sorted(cancellation.updates().items())):
            names[f"#c{i}"] = key
            values[f":c{i}"] = serialize(value)
            sets.append(f"#md.#c{i} = :c{i}")
        condition = f"attribute_exists(id) AND {_IS_ACTIVE} AND attribute_not_exists(#md.#cb)"
        if task.kind is TaskKind.DELETE:
            names["#rs"] = _REMOVAL_STARTED_AT
            condition += " AND attribute_not_exists(#md.#rs)"
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._tasks,
                    "Key": {"id": {"S": task.id}},
                    "UpdateExpression": "SET " + ", ".join(sets),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        if task.kind is TaskKind.DEPLOY:
            items.append(self._models.cancellable_check_item(task.embedding_model_id, task.id))
        try:
            self._client.transact_write_items(TransactItems=items)
        except CallFailed as exc:
            codes = cancellation_codes(exc)
            if error_code(exc) != "TransactionCanceledException" or "ConditionalCheckFailed" not in codes:
                raise translate(exc, f"cancel {task.id}") from exc
            current = self.get(task.id)
            if current.status.is_terminal:
                raise TaskNotCancellable(f"task {task.id} is {current.status.value}", current.status.value) from exc
            if codes[0] == "ConditionalCheckFailed" and current.metadata.cancelled_by is not None:
                return False
            if task.kind is TaskKind.DELETE:
                raise TaskNotCancellable(
                    f"task {task.id} is {current.status.value} and its endpoints are being deleted: "
                    "routing cannot be restored",
                    current.status.value,
                ) from exc
            raise TaskNotCancellable(
                f"task {task.id} is {current.status.value} and traffic has moved to green without a bake: "
                "there is nothing to roll back to; deploy the previous model again instead",
                current.status.value,
            ) from exc
        return True

    def _unless_cancelled(
        self, task_id: str, metadata: TaskMetadata | None, first_only: tuple[FirstOnly, ...] = ()
    ) -> TransactWriteItemTypeDef:
        """An entry on the task item that holds only while it is in progress and not cancelled, setting
        `metadata` (and the timestamp keys `first_only`, kept from their first write)."""
        names = {"#s": "status", "#md": "metadata", "#cb": CANCELLED_BY}
        values: dict[str, Any] = {":running": _ACTIVE_STATUSES[":running"]}
        condition = "#s = :running AND attribute_not_exists(#md.#cb)"
        sets = []
        for i, (key, value) in enumerate(sorted((metadata.updates() if metadata else {}).items())):
            names[f"#m{i}"] = key
            values[f":m{i}"] = serialize(value)
            sets.append(f"#md.#m{i} = :m{i}")
        for i, key in enumerate(first_only):
            names[f"#f{i}"] = key
            values[":now"] = serialize(format_timestamp(utc_now()))
            sets.append(f"#md.#f{i} = if_not_exists(#md.#f{i}, :now)")
        if not sets:
            return {
                "ConditionCheck": {
                    "TableName": self._tasks,
                    "Key": {"id": {"S": task_id}},
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        return {
            "Update": {
                "TableName": self._tasks,
                "Key": {"id": {"S": task_id}},
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

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
        self,
        task_id: str,
        status: TaskStatus,
        error: TaskError | None,
        metadata: dict[str, Any],
        *,
        from_statuses: dict[str, Any] = _ACTIVE_STATUSES,
    ) -> TransactWriteItemTypeDef:
        """The entry moving an active task (or one in `from_statuses`) to `status`."""
        names: dict[str, str] = {"#s": "status", "#u": "updated_at"}
        values: dict[str, Any] = {
            ":s": serialize(status.value),
            ":u": serialize(format_timestamp(utc_now())),
            **from_statuses,
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
                "ConditionExpression": f"attribute_exists(id) AND #s IN ({', '.join(from_statuses)})",
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
