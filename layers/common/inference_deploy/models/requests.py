"""Request bodies of the write routes. Unknown fields are refused so typos do not pass silently."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from inference_deploy.models.common import ModelId


def _whole_number(value: Any) -> Any:
    """JSON does not tell 2 from 2.0 (JSON Schema's integer takes both); 2.5 stays refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


InstanceCount = Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole_number)]
# Step Functions' 25,000-event history bounds how long a bake may watch (see BakeCheckSeconds in template.yaml).
MAX_BAKE_SECONDS = 10_800
MAX_ROLLBACK_ALARMS = 10
AlarmName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]+$")]


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
    bake_seconds: Annotated[int, Field(ge=0, le=MAX_BAKE_SECONDS), BeforeValidator(_whole_number)] | None = Field(
        default=None,
        description="After the switch, keep blue InService this long while green takes the traffic, and roll back "
        "to blue if a watched alarm goes to ALARM. The stack's default when omitted; a first deploy (no blue) "
        "bakes only when this is given.",
        examples=[600],
    )
    rollback_alarms: list[AlarmName] = Field(
        default_factory=list,
        max_length=MAX_ROLLBACK_ALARMS,
        description="Names of existing CloudWatch alarms to watch during the bake, besides the alarms the "
        "deployment creates on green's own metrics (Invocation5XXErrors, ModelLatency).",
        examples=[["search-api-error-rate"]],
    )

    @field_validator("rollback_alarms")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("alarm names must be distinct")
        return names


class DeleteRequest(_Request):
    embedding_model_id: ModelId
    deletion_type: Literal["manual", "automated"] = Field(
        default="manual", description="Who asked: a person (manual) or a system (automated)."
    )
    reason: str | None = Field(default=None, min_length=1, max_length=512, examples=["model deprecated"])


class CancelRequest(_Request):
    reason: str | None = Field(
        default=None, min_length=1, max_length=512, description="Why, recorded on the task.", examples=["wrong model"]
    )


class OwnerTransferRequest(_Request):
    team: str = Field(
        min_length=1,
        max_length=256,
        # What IAM and SageMaker admit in a tag value.
        pattern=r"^[\w .:/=+\-@]+$",
        description="The new owner: the owner tag value (OwnerTagKey) of the callers who may change the model.",
        examples=["search"],
    )
