"""The serving record: which SageMaker endpoint answers for a model now."""

from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from inference_deploy.models.capacity import CapacityRecord
from inference_deploy.models.common import ModelId, TaskId, Timestamp


class EndpointRef(BaseModel):
    """A SageMaker endpoint and the endpoint config it was created from."""

    # defer_build: each model is built when first used, so a cold start builds only those its function uses.
    model_config = ConfigDict(frozen=True, defer_build=True)

    endpoint_name: str = Field(max_length=63)
    endpoint_config_name: str = Field(max_length=63)


class ServedEndpoint(BaseModel):
    """An endpoint as the serving record names it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    endpoint_name: str = Field(max_length=63)
    endpoint_config_name: str = Field(max_length=63)
    task_id: TaskId = Field(description="The deploy task that put this endpoint in service.")
    embedding_dimension: int = Field(gt=0, description="Length of the vectors the endpoint answers with.")
    since: Timestamp = Field(description="When the record was switched to this endpoint.")
    capacity: CapacityRecord | None = Field(default=None, description="The instances and scaling it started with.")


class ServingRecord(BaseModel):
    """What resolvers of the inference system read to find a model's endpoint."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    embedding_model_id: ModelId
    endpoint_name: str = Field(max_length=63, examples=["embed-deploy-123-01jz3k4w1yqf8v6t0m9n2r5b7c"])
    endpoint_config_name: str = Field(max_length=63)
    task_id: TaskId = Field(description="The deploy task that put this endpoint in service.")
    embedding_dimension: int = Field(gt=0, description="Length of the vectors the endpoint answers with.")
    since: Timestamp = Field(description="When the record was switched to this endpoint.")
    capacity: CapacityRecord | None = Field(
        default=None,
        description="The instances green started with and the Application Auto Scaling set-up copied onto it "
        "(from blue, or from the request's autoscaling, which later deploys then copy).",
    )
    previous: ServedEndpoint | None = Field(
        default=None,
        description="During a bake: the endpoint that served before, still InService but taking no traffic "
        "(`endpoint_name` serves). Traffic goes back to it if a watched alarm trips or the deploy is cancelled.",
    )
    bake_ends_at: Timestamp | None = Field(default=None, description="During a bake: when it ends.")

    @property
    def baking(self) -> bool:
        return self.bake_ends_at is not None

    @property
    def served(self) -> ServedEndpoint:
        return ServedEndpoint(
            endpoint_name=self.endpoint_name,
            endpoint_config_name=self.endpoint_config_name,
            task_id=self.task_id,
            embedding_dimension=self.embedding_dimension,
            since=self.since,
            capacity=self.capacity,
        )

    @classmethod
    def of(cls, embedding_model_id: str, endpoint: ServedEndpoint) -> Self:
        return cls(embedding_model_id=embedding_model_id, **endpoint.model_dump())

    @property
    def endpoint(self) -> EndpointRef:
        return EndpointRef(endpoint_name=self.endpoint_name, endpoint_config_name=self.endpoint_config_name)


class ModelOwner(BaseModel):
    """The team that owns a model, pinned in the models table at its first deploy (from the SageMaker Model's
    owner tag) and changed only by an admin's transfer: a later tag edit on the Model changes nothing."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    embedding_model_id: ModelId
    team: str = Field(min_length=1, max_length=256, description="The owner tag value of the callers who own the model.")
    pinned_by: str = Field(description="ARN of the caller whose request pinned (or last transferred) the owner.")
    pinned_at: Timestamp = Field(description="When the owner was pinned (or last transferred).")
    previous_team: str | None = Field(default=None, description="After a transfer: the team that owned it before.")
