"""Per-model items in DynamoDB: the serving record that resolvers read to find a model's endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inference_deploy.adapters import aws
from inference_deploy.adapters.dynamo import CallFailed, error_code, from_item, serialize, translate
from inference_deploy.errors import ServingRecordChanged
from inference_deploy.models.serving import ServingRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _record(values: Any, embedding_model_id: str) -> ServingRecord | None:
    if not isinstance(values, dict):
        return None
    return ServingRecord.model_validate({**values, "embedding_model_id": embedding_model_id})


class ModelStore:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self._table = table_name
        self._client = client or aws.dynamodb()

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

    def switch(self, green: ServingRecord, expected: ServingRecord | None) -> None:
        """Point the model at green in one conditional write, only if it still points at `expected`.

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
        condition = f"{condition} OR serving.task_id = :green_task"
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": green.embedding_model_id}},
                UpdateExpression="SET serving = :green",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except CallFailed as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                seen = expected.endpoint_name if expected else "no endpoint"
                raise ServingRecordChanged(
                    f"the serving record of {green.embedding_model_id} no longer points at {seen}"
                ) from exc
            raise translate(exc, f"switch {green.embedding_model_id}") from exc

    def unroute(self, embedding_model_id: str) -> ServingRecord | None:
        """Remove the serving record, keeping it as `unrouted` so a failed removal can put it back.
        Returns what it said; a retry after a write that landed returns the same record."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"embedding_model_id": {"S": embedding_model_id}},
                UpdateExpression="SET unrouted = serving REMOVE serving",
                ConditionExpression="attribute_exists(serving)",
                ReturnValues="ALL_OLD",
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
