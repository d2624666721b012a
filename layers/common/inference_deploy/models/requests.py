"""Request bodies of the write routes. Unknown fields are refused so typos do not pass silently."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from inference_deploy.models.common import ModelId


def _whole_number(value: Any) -> Any:
    """JSON does not tell 2 from 2.0 (JSON Schema's integer takes both); 2.5 stays refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


InstanceCount = Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole_number)]


class _Request(BaseModel):
    # strict: JSON types are taken as sent ("2" is not a count, "yes" is not a boolean)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DeployRequest(_Request):
    embedding_model_id: ModelId
    instance_type: str | None = Field(
        default=None,
        max_length=32,
        pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$",
        description="SageMaker instance type for green; the stack's default when omitted. Must be one of the "
        "stack's allowed types (AllowedInstanceTypes parameter), else 422 cost_limit_exceeded listing them.",
        examples=["ml.g5.xlarge"],
    )
    initial_instance_count: InstanceCount | None = Field(
        default=None,
        description="Instances behind green; the stack's default when omitted. At most the stack's "
        "MaxInstanceCount parameter, else 422 cost_limit_exceeded.",
    )
    allow_dimension_change: bool = Field(
        default=False,
        description="Let green answer with another embedding dimension than blue (breaks existing vector indexes).",
    )


class DeleteRequest(_Request):
    embedding_model_id: ModelId
    deletion_type: Literal["manual", "automated"] = Field(
        default="manual", description="Who asked: a person (manual) or a system (automated)."
    )
    reason: str | None = Field(default=None, min_length=1, max_length=512, examples=["model deprecated"])
