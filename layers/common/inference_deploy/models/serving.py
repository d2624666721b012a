"""The serving record: which SageMaker endpoint answers for a model now."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from inference_deploy.models.common import ModelId, TaskId, Timestamp


class EndpointRef(BaseModel):
    """A SageMaker endpoint and the endpoint config it was created from."""

    model_config = ConfigDict(frozen=True)

    endpoint_name: str = Field(max_length=63)
    endpoint_config_name: str = Field(max_length=63)


class ServingRecord(BaseModel):
    """What resolvers of the inference system read to find a model's endpoint."""

    model_config = ConfigDict(frozen=True)

    embedding_model_id: ModelId
    endpoint_name: str = Field(max_length=63, examples=["embed-deploy-123-01jz3k4w1yqf8v6t0m9n2r5b7c"])
    endpoint_config_name: str = Field(max_length=63)
    task_id: TaskId = Field(description="The deploy task that put this endpoint in service.")
    embedding_dimension: int = Field(gt=0, description="Length of the vectors the endpoint answers with.")
    since: Timestamp = Field(description="When the record was switched to this endpoint.")

    @property
    def endpoint(self) -> EndpointRef:
        return EndpointRef(endpoint_name=self.endpoint_name, endpoint_config_name=self.endpoint_config_name)
