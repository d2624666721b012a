"""Per-model items in DynamoDB, one item per model, and the only code that reads or writes them.

An item holds the model's pinned owner (`pinned_owner`, the team its first deploy found on the SageMaker
Model, changed only by an admin's transfer), its serving record (`serving`, what resolvers read to find
the model's endpoint; `unrouted` while a delete task has taken it away) and its active-task slot
(`active_task`, at most one task per model). The task store takes and frees the slot in its own
transactions, composing the entries `claim_slot_item` and `release_slot_item` build here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from inference_deploy.adapters import aws
from inference_deploy.adapters.dynamo import CallFailed, error_code, from_item, serialize, translate
from inference_deploy.errors import ModelNotFound, ServingRecordChanged, StoreUnavailable
from inference_deploy.models.common import format_timestamp, utc_now
from inference_deploy.models.serving import ModelOwner, ServedEndpoint, ServingRecord
from inference_deploy.models.task import ActiveTask, Task, TaskKind

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# ServingRecord and ModelOwner too: TaskStore's transactions take them without spelling the model's item itself.
__all__ = ["ModelOwner", "ModelStore", "ServingRecord"]


def _holder(slot: dict[str, Any]) -> ActiveTask:
    return ActiveTask(
        task_id=slot["task_id"],
        kind=TaskKind(slot["kind"]),
        since=datetime.fromisoformat(slot["since"]),
        execution_arn=slot["execution_arn"],
    )


def _owner_attribute(owner: ModelOwner) -> dict[str, Any]:
    return owner.model_dump(mode="json", exclude={"embedding_model_id"}, exclude_none=True)


def _record(values: Any, embedding_model_id: str) -> ServingRecord | None:
    if not isinstance(values, dict):
        return None
    return ServingRecord.model_validate({**values, "embedding_model_id": embedding_model_id})


class ModelStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client or aws.dynamodb()

    # ---------------------------------------------------------------- the active-task slot

    def claim_slot_item(
        self, task: Task, *, replacing: str | None = None, pin: ModelOwner | None = None
    ) -> TransactWriteItemTypeDef:
        """The transaction entry putting `task` in its model's slot: a free slot, or the one `replacing`
        holds (a stale holder taken over). A delete task also needs the model to be served. `pin` is
        the owner to record if none is (never replacing one: a transfer that landed first stays)."""
        condition = "attribute_not_exists(active_task)"
        values: dict[str, Any] = {}
        if replacing is not None:
            condition = "active_task.task_id = :holder"
            values[":holder"] = serialize(replacing)
        if task.kind is TaskKind.DELETE:
            condition = f"({condition}) AND attribute_exists(serving)"
        slot = {
            "task_id": task.id,
            "kind": task.kind.value,
            "since": format_timestamp(task.created_at),
            "execution_arn": task.execution_arn,
        }
        update = "SET active_task = :slot"
        if pin is not None:
            update += ", pinned_owner = if_not_exists(pinned_owner, :owner)"
            values[":owner"] = serialize(_owner_attribute(pin))
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"embedding_model_id": {"S": task.embedding_model_id}},
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": {":slot": serialize(slot), **values},
            }
        }

    def release_slot_item(self, embedding_model_id: str, task_id: str) -> TransactWriteItemTypeDef:
        """The transaction entry freeing the slot, only if `task_id` still holds it and no bake of its is
        unresolved: while the record names the task's green with `previous`, two endpoints are up and
        only a rollback or the bake's end may settle them, so the slot stays held (the stalled-task
        sweep then starts the model's repair, which settles it and frees the slot)."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"embedding_model_id": {"S": embedding_model_id}},
                "UpdateExpression": "REMOVE active_task",
                "ConditionExpression": "active_task.task_id = :me "
                "AND (attribute_not_exists(serving.previous) OR serving.task_id <> :me)",
                "ExpressionAttributeValues": {":me": serialize(task_id)},
            }
        }

    def release_slot(self, embedding_model_id: str, task_id: str) -> None:
        """Free a slot `task_id` holds, on its own; a slot already free (or taken over) is fine."""
        try:
            self._client.update_item(**self.release_slot_item(embedding_model_id, task_id)["Update"])
        except CallFailed as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, "release a slot") from exc

    def active_task(self, embedding_model_id: str) -> ActiveTask | None:
        return self.model_state(embedding_model_id)[0]

    def model_state(self, embedding_model_id: str) -> tuple[ActiveTask | None, bool]:
        """(who holds the model's slot, whether the model is served), read consistently."""
        holder, record = self.ownership(embedding_model_id)
        return holder, record is not None

    def slot_holders(self) -> Iterator[tuple[str, ActiveTask]]:
        """(model id, holder) of every held slot: one Scan of the models table, one item per model."""
        try:
            pages = self._client.get_paginator("scan").paginate(
                TableName=self._table,
                ProjectionExpression="embedding_model_id, active_task",
                FilterExpression="attribute_exists(active_task)",
                ConsistentRead=True,
            )
            for page in pages:
                for item in page.get("Items", []):
                    values = from_item(item)
                    yield values["embedding_model_id"], _holder(values["active_task"])
        except CallFailed as exc:
            raise translate(exc, "list the held slots") from exc

    # ---------------------------------------------------------------- the owner

    def owner(self, embedding_model_id: str) -> tuple[ModelOwner | None, bool]:
        """(the model's pinned owner, whether the models table has an item for it), read consistently."""
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": embedding_model_id}},
                ProjectionExpression="embedding_model_id, pinned_owner",
                ConsistentRead=True,
            )
        except CallFailed as exc:
            raise translate(exc, f"read the owner of {embedding_model_id}") from exc
        if "Item" not in response:
            return None, False
        values = from_item(response["Item"]).get("pinned_owner")
        if not isinstance(values, dict):
            return None, True
        return ModelOwner.model_validate({**values, "embedding_model_id": embedding_model_id}), True

    def transfer(self, owner: ModelOwner) -> ModelOwner:
        """Pin `owner` (its previous_team is filled in here), only on a model the table has an item for
        (ModelNotFound otherwise); returns what was written."""
        current, _ = self.owner(owner.embedding_model_id)
        written = owner.model_copy(update={"previous_team": current.team if current else None})
        values: dict[str, Any] = {":owner": serialize(_owner_attribute(written))}
        condition = "attribute_exists(embedding_model_id)"
        if current is None:
            condition += " AND attribute_not_exists(pinned_owner)"
        else:
            condition += " AND pinned_owner.team = :seen AND pinned_owner.pinned_at = :seen_at"
            values[":seen"] = serialize(current.team)
            values[":seen_at"] = serialize(format_timestamp(current.pinned_at))
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": owner.embedding_model_id}},
                UpdateExpression="SET pinned_owner = :owner",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except CallFailed as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, f"transfer {owner.embedding_model_id}") from exc
            now, recorded = self.owner(owner.embedding_model_id)
            if not recorded:
                raise ModelNotFound(f"model {owner.embedding_model_id} has never been deployed") from exc
            if now is not None and now.team == written.team and now.pinned_by == written.pinned_by:
                return now  # a repeat of this very transfer
            raise StoreUnavailable(f"the owner of {owner.embedding_model_id} changed meanwhile; retry") from exc
        return written

    # ---------------------------------------------------------------- the serving record

    def serving(self, embedding_model_id: str) -> ServingRecord | None:
        return self._read(embedding_model_id, "serving")

    def unrouted(self, embedding_model_id: str) -> ServingRecord | None:
        """The record a delete task unrouted (kept until a failed removal puts it back)."""
        return self._read(embedding_model_id, "unrouted")

    def _read(self, embedding_model_id: str, attribute: str) -> ServingRecord | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": embedding_model_id}},
                ProjectionExpression=attribute,
                ConsistentRead=True,
            )
        except CallFailed as exc:
            raise translate(exc, f"read the {attribute} record of {embedding_model_id}") from exc
        return _record(from_item(response.get("Item", {})).get(attribute), embedding_model_id)

    def switch_item(self, green: ServingRecord, expected: ServingRecord | None) -> TransactWriteItemTypeDef:
        """The entry pointing the model at green, only if it still points at `expected`.

        A retry of a write that landed (its answer lost) finds the record already naming green's task:
        that is success too, never "someone else switched it" (which would discard the serving green)."""
        values: dict[str, Any] = {
            ":green": serialize(green.model_dump(mode="json", exclude={"embedding_model_id"})),
            ":green_task": serialize(green.task_id),
        }
        if expected is None:
            condition = "attribute_not_exists(serving)"
        else:
            condition = "(serving.task_id = :blue_task AND serving.endpoint_name = :blue_endpoint)"
            values[":blue_task"] = serialize(expected.task_id)
            values[":blue_endpoint"] = serialize(expected.endpoint_name)
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"embedding_model_id": {"S": green.embedding_model_id}},
                "UpdateExpression": "SET serving = :green",
                "ConditionExpression": f"{condition} OR serving.task_id = :green_task",
                "ExpressionAttributeValues": values,
            }
        }

    def switch(self, green: ServingRecord, expected: ServingRecord | None) -> None:
        """Point the model at green in one conditional write (see `switch_item`)."""
        try:
            self._client.update_item(**self.switch_item(green, expected)["Update"])
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise self.switch_refused(green, expected) from exc
            raise translate(exc, f"switch {green.embedding_model_id}") from exc

    @staticmethod
    def switch_refused(green: ServingRecord, expected: ServingRecord | None) -> ServingRecordChanged:
        seen = expected.endpoint_name if expected else "no endpoint"
        return ServingRecordChanged(f"the serving record of {green.embedding_model_id} no longer points at {seen}")

    # ---------------------------------------------------------------- the bake

    def end_bake_item(self, embedding_model_id: str, task_id: str) -> TransactWriteItemTypeDef:
        """The entry ending a bake: the record keeps green and forgets the previous endpoint, only while
        green (`task_id`'s endpoint) still serves. A repeat finds nothing to remove and succeeds."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"embedding_model_id": {"S": embedding_model_id}},
                "UpdateExpression": "REMOVE serving.previous, serving.bake_ends_at",
                "ConditionExpression": "serving.task_id = :me",
                "ExpressionAttributeValues": {":me": serialize(task_id)},
            }
        }

    def end_bake(self, embedding_model_id: str, task_id: str) -> bool:
        """End a bake on its own (a first deploy's alarm: green stays); False if green no longer serves."""
        try:
            self._client.update_item(**self.end_bake_item(embedding_model_id, task_id)["Update"])
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise translate(exc, f"end the bake of {embedding_model_id}") from exc
        return True

    def cancellable_check_item(self, embedding_model_id: str, task_id: str) -> TransactWriteItemTypeDef:
        """The check a deploy's cancel commits with: the task's green does not serve, or serves while
        baking (blue is still there to go back to)."""
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {"embedding_model_id": {"S": embedding_model_id}},
                "ConditionExpression": "attribute_not_exists(serving) OR serving.task_id <> :me "
                "OR attribute_exists(serving.previous)",
                "ExpressionAttributeValues": {":me": serialize(task_id)},
            }
        }

    def roll_back(self, embedding_model_id: str, task_id: str, previous: ServedEndpoint) -> bool:
        """Point the model back at `previous` in one conditional write, only while `task_id`'s green serves
        and still names it as previous. True once `previous` serves (also when a repeat or a concurrent
        cancel put it back first); False if something else serves now."""
        record = ServingRecord.of(embedding_model_id, previous)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": embedding_model_id}},
                UpdateExpression="SET serving = :previous",
                ConditionExpression="serving.task_id = :me AND serving.previous.endpoint_name = :previous_endpoint",
                ExpressionAttributeValues={
                    ":previous": serialize(record.model_dump(mode="json", exclude={"embedding_model_id"})),
                    ":me": serialize(task_id),
                    ":previous_endpoint": serialize(previous.endpoint_name),
                },
            )
        except CallFailed as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, f"roll back {embedding_model_id}") from exc
            now = self.serving(embedding_model_id)
            return now is not None and now.endpoint_name == previous.endpoint_name
        return True

    def unroute(self, embedding_model_id: str) -> ServingRecord | None:
        """Remove the serving record, keeping it as `unrouted` so a failed removal can put it back.
        Returns what it said; a retry after a write that landed returns the same record."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": embedding_model_id}},
                UpdateExpression="SET unrouted = serving REMOVE serving",
                ConditionExpression="attribute_exists(serving)",
                # Not ALL_OLD: the function's IAM policy admits only the attributes it touches (dynamodb:Attributes).
                ReturnValues="UPDATED_OLD",
            )
        except CallFailed as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, f"unroute {embedding_model_id}") from exc
            return self._read(embedding_model_id, "unrouted")
        return _record(from_item(response.get("Attributes", {})).get("serving"), embedding_model_id)

    def restore(self, record: ServingRecord) -> bool:
        """Put a removed record back unless something else was routed meanwhile."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": record.embedding_model_id}},
                UpdateExpression="SET serving = :record REMOVE unrouted",
                ConditionExpression="attribute_not_exists(serving)",
                ExpressionAttributeValues={
                    ":record": serialize(record.model_dump(mode="json", exclude={"embedding_model_id"}))
                },
            )
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise translate(exc, f"restore {record.embedding_model_id}") from exc
        return True

    def restore_unrouted(self, embedding_model_id: str) -> bool:
        """Put back the record an unroute moved aside, unless something else was routed meanwhile."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": embedding_model_id}},
                UpdateExpression="SET serving = unrouted REMOVE unrouted",
                ConditionExpression="attribute_not_exists(serving) AND attribute_exists(unrouted)",
            )
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise translate(exc, f"restore {embedding_model_id}") from exc
        return True

    # ---------------------------------------------------------------- what the reconciler may not delete

    def ownership(self, embedding_model_id: str) -> tuple[ActiveTask | None, ServingRecord | None]:
        """(who holds the model's slot, its serving record with `previous`) in one consistent GetItem:
        the two are read together, as late as possible, so a rollback or a cancel that lands between two
        separate reads cannot make the endpoint that serves look unowned."""
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": embedding_model_id}},
                ProjectionExpression="active_task, serving",
                ConsistentRead=True,
            )
        except CallFailed as exc:
            raise translate(exc, f"read the slot and serving record of {embedding_model_id}") from exc
        item = from_item(response.get("Item", {}))
        slot = item.get("active_task")
        return (_holder(slot) if isinstance(slot, dict) else None), _record(item.get("serving"), embedding_model_id)

    # ---------------------------------------------------------------- repair (logic/repair.py)

    def hand_slot_to(self, embedding_model_id: str, task_id: str, execution_arn: str) -> bool:
        """Keep `task_id`'s slot but name `execution_arn` (its repair) as what runs it now, from now: a create
        request and the unstarted-task sweep then see a running execution, not a stale holder to take over.
        False if the task no longer holds the slot (a repeat finds its own hand-over and succeeds)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": embedding_model_id}},
                UpdateExpression="SET active_task.execution_arn = :arn, active_task.since = :now",
                ConditionExpression="active_task.task_id = :me",
                ExpressionAttributeValues={
                    ":arn": serialize(execution_arn),
                    ":now": serialize(format_timestamp(utc_now())),
                    ":me": serialize(task_id),
                },
            )
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise translate(exc, f"hand the slot of {embedding_model_id} to its repair") from exc
        return True
