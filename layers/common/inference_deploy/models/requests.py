"""Request bodies of the write routes. Unknown fields are refused so typos do not pass silently."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from inference_deploy.models.capacity import AutoscalingRequest
from inference_deploy.models.common import ModelId


def _whole_number(value: Any) -> Any:
    """JSON does not tell 2 from 2.0 (JSON Schema's integer takes both); 2.5 stays refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


InstanceCount = Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole_number)]
# A bake is one wait whatever its length; 3 hours leave the rest of the rollout room in the deploy workflow's
# 6-hour TimeoutSeconds (statemachine/deploy.asl.json).
MAX_BAKE_SECONDS = 10_800
MAX_ROLLBACK_ALARMS = 10
AlarmName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]+$")]
# The embedding-compatibility guard's probes: at least enough for 10 neighbours each to mean something, and
# all of them inside the API's 16 KiB body (api/resolver.py), which also keeps them small in every state
# of the execution they ride in.
MIN_PROBE_TEXTS = 16
MAX_PROBE_TEXTS = 128
MAX_PROBE_TEXT_CHARS = 512
MAX_PROBE_TEXTS_BYTES = 12_288
# Below 0.5 blue's and green's vectors are not one space in any useful sense: allow_embedding_change says that.
MIN_MEAN_COSINE_BOUNDS = (0.5, 1.0)
ProbeText = Annotated[str, Field(min_length=1, max_length=MAX_PROBE_TEXT_CHARS, pattern=r"\S")]


class _Request(BaseModel):
    # strict: JSON types are taken as sent ("2" is not a count, "yes" is not a boolean)
    # defer_build: each model is built when first used, so a cold start builds only those its function uses.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


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
        description="Instances behind green. When omitted: blue's CurrentInstanceCount (capped at the stack's "
        "MaxInstanceCount), or the stack's default on a first deploy. At most MaxInstanceCount, else 422 "
        "cost_limit_exceeded; below blue's current count, 422 capacity_drop unless allow_capacity_drop.",
    )
    allow_capacity_drop: bool = Field(
        default=False,
        description="Let initial_instance_count be below the instances blue serves with now.",
    )
    autoscaling: AutoscalingRequest | None = Field(
        default=None,
        description="Application Auto Scaling for green's variant (and the model's later deploys, which copy it "
        "from the serving endpoint). When omitted, blue's scalable target and policies are copied.",
    )
    allow_dimension_change: bool = Field(
        default=False,
        description="Let green answer with another embedding dimension than blue (breaks existing vector indexes).",
    )
    bake_seconds: Annotated[int, Field(ge=0, le=MAX_BAKE_SECONDS), BeforeValidator(_whole_number)] | None = Field(
        default=None,
        description="After the switch, keep blue InService this long while green takes the traffic, and roll back "
        "to blue if a watched alarm goes to ALARM during it, or if green's own Invocation5XXErrors or ModelLatency "
        "breached the stack's bake thresholds when it ends. The stack's default when omitted; a first deploy "
        "(no blue) bakes only when this is given.",
        examples=[600],
    )
    rollback_alarms: list[AlarmName] = Field(
        default_factory=list,
        max_length=MAX_ROLLBACK_ALARMS,
        description="Names of existing CloudWatch alarms to watch during the bake: one going to ALARM rolls back "
        "at once (the bake watches them through a composite alarm, $0.50 a month prorated by the hour).",
        examples=[["search-api-error-rate"]],
    )
    green_alarms: bool = Field(
        default=False,
        description="Also watch green's own Invocation5XXErrors and ModelLatency with two CloudWatch alarms "
        "made for the bake, so that they roll back as soon as they trip rather than when the bake ends "
        "(two metric alarms for at least an hour each, $0.10 a month each prorated by the hour).",
    )

    allow_embedding_change: bool = Field(
        default=False,
        description="Let green answer in another embedding space than blue (mean cosine between their vectors "
        "for the probe texts below the threshold): the rollout goes on, and the task says existing vector "
        "indexes need re-embedding (`metadata.reembedding_required`).",
    )
    min_mean_cosine: Annotated[float, Field(ge=MIN_MEAN_COSINE_BOUNDS[0], le=MIN_MEAN_COSINE_BOUNDS[1])] | None = Field(
        default=None,
        description="The embedding-compatibility guard's threshold for this deploy: below this mean cosine "
        "between blue's and green's vectors of the probe texts the deploy fails embedding_space_changed. The "
        "stack's EmbeddingCompatibilityMinCosine when omitted.",
        examples=[0.95],
    )
    probe_texts: list[ProbeText] | None = Field(
        default=None,
        min_length=MIN_PROBE_TEXTS,
        max_length=MAX_PROBE_TEXTS,
        description=f"Texts blue and green both embed for the compatibility guard (distinct, {MIN_PROBE_TEXTS} to "
        f"{MAX_PROBE_TEXTS}, each at most {MAX_PROBE_TEXT_CHARS} characters, {MAX_PROBE_TEXTS_BYTES} UTF-8 bytes "
        "in all); the service's default set of 80 varied texts when omitted. Texts like your own documents "
        "make the figures speak for your indexes.",
    )

    @field_validator("rollback_alarms")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("alarm names must be distinct")
        return names

    @field_validator("probe_texts")
    @classmethod
    def _probe_set(cls, texts: list[str] | None) -> list[str] | None:
        if texts is None:
            return None
        if len(set(texts)) != len(texts):
            raise ValueError("probe texts must be distinct")
        size = sum(len(text.encode()) for text in texts)
        if size > MAX_PROBE_TEXTS_BYTES:
            raise ValueError(f"probe texts take {size} UTF-8 bytes; at most {MAX_PROBE_TEXTS_BYTES} are allowed")
        return texts


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
