"""DynamoDB plumbing shared by the stores: value (de)serialisation and ClientError translation."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from inference_deploy.errors import ConfigurationError, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo(v) for v in value]
    return value


def serialize(value: Any) -> AttributeValueTypeDef:
    return _SERIALIZER.serialize(_to_dynamo(value))


def to_item(values: dict[str, Any]) -> dict[str, AttributeValueTypeDef]:
    return {k: serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


_UNAVAILABLE = {
    # Another transaction holds an item we write: DynamoDB asks the caller to retry.
    "TransactionConflictException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


_UNAVAILABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


# What a DynamoDB call can raise: an answer (ClientError), or no answer at all (BotoCoreError: connect
# or read timeout, connection reset...). Without an answer a write may or may not have been applied.
CallFailed = (ClientError, BotoCoreError)


def error_code(exc: ClientError | BotoCoreError) -> str:
    """The error code DynamoDB answered; "" when no answer came back."""
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def cancellation_codes(exc: ClientError | BotoCoreError) -> list[str]:
    """Per-item reasons of a TransactionCanceledException (`None`, `ConditionalCheckFailed`, …)."""
    if not isinstance(exc, ClientError):
        return []
    reasons: Any = exc.response.get("CancellationReasons") or []
    return [str(r.get("Code", "None")) for r in reasons]


def translate(exc: ClientError | BotoCoreError, what: str) -> Exception:
    """Throttling, outages, transaction conflicts and lost answers (timeouts, broken connections) become
    StoreUnavailable (retryable), a missing table a ConfigurationError; anything else is a bug and stays
    as it is."""
    if isinstance(exc, BotoCoreError):
        return StoreUnavailable(f"{what}: no answer from DynamoDB ({type(exc).__name__})")
    code = error_code(exc)
    if code == "TransactionCanceledException" and any(
        reason in _UNAVAILABLE_REASONS for reason in cancellation_codes(exc)
    ):
        return StoreUnavailable(f"{what}: DynamoDB cancelled the transaction ({', '.join(cancellation_codes(exc))})")
    if code in _UNAVAILABLE:
        return StoreUnavailable(f"{what}: DynamoDB is unavailable ({code})")
    if code == "ResourceNotFoundException":
        return ConfigurationError(f"{what}: the table does not exist")
    return exc
