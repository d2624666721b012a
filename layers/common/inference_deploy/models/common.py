"""Field types shared by requests, tasks and workflow payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer, StringConstraints

# SageMaker's name rule, lower case only: the model id becomes part of endpoint names, which SageMaker
# compares case-insensitively, and keys the model's slot and serving record. One spelling per model means
# "Embed-A" and "embed-a" can never hold two slots (two rollouts at once) or two serving records.
MODEL_ID_PATTERN = r"^[a-z0-9](-*[a-z0-9]){0,62}$"
TASK_ID_PATTERN = r"^(deploy|delete)-[0-9A-HJKMNP-TV-Z]{26}$"

ModelId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=MODEL_ID_PATTERN),
    Field(description="SageMaker Model name of the embedding model.", examples=["embed-deploy-123"]),
]
TaskId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=33, pattern=TASK_ID_PATTERN),
    Field(
        description="Task id: its kind, a dash, a time-sortable ULID.",
        examples=["deploy-01JZ3K4W1YQF8V6T0M9N2R5B7C"],
    ),
]


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with a trailing Z and whole seconds, as in the API contract."""
    return _require_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[
    datetime,
    AfterValidator(_require_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
