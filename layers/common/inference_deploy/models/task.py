"""The task: what the API returns, and how it is stored in DynamoDB."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from inference_deploy.models.common import ModelId, TaskId, Timestamp, utc_now


class TaskKind(StrEnum):
    DEPLOY = "deploy"
    DELETE = "delete"


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    # A cancel was requested: the workflow is undoing what it did; ends `cancelled` once that is done.
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class TaskError(BaseModel):
    """Why a task failed: `code` for machines, `message` for people."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(examples=["model_not_found"])
    message: str = Field(examples=["SageMaker model 'embed-deploy-123' does not exist"])


class Task(BaseModel):
    """A deploy or delete task, in the shape of the API contract plus the execution and error fields."""

    model_config = ConfigDict(frozen=True)

    id: TaskId
    embedding_model_id: ModelId
    status: TaskStatus
    created_at: Timestamp
    updated_at: Timestamp
    metadata: dict[str, Any] = Field(default_factory=dict)
    execution_arn: str | None = Field(
        default=None, description="Step Functions execution running this task (its name is the task id)."
    )
    error: TaskError | None = Field(default=None, description="Set when status is failed.")

    @property
    def kind(self) -> TaskKind:
        return TaskKind(self.id.split("-", 1)[0])

    @classmethod
    def new(cls, task_id: str, embedding_model_id: str, metadata: dict[str, Any], execution_arn: str) -> Self:
        now = utc_now()
        return cls(
            id=task_id,
            embedding_model_id=embedding_model_id,
            status=TaskStatus.PENDING,
            created_at=now,
            updated_at=now,
            metadata=metadata,
            execution_arn=execution_arn,
        )


class StepRun(BaseModel):
    """One run of a workflow state, as `metadata.step_runs` lists them (a polling state runs many times)."""

    model_config = ConfigDict(frozen=True)

    step: str = Field(description="The state's name in the state machine.", examples=["ProvisionGreen"])
    started_at: Timestamp
    ended_at: Timestamp
    runs: int | None = Field(
        default=None, ge=2, description="How many times the state ran in a row (polling), when more than once."
    )
    error: str | None = Field(default=None, description="The error the last run ended with, when it failed.")


class TaskPage(BaseModel):
    """One page of a model's tasks, newest first."""

    model_config = ConfigDict(frozen=True)

    tasks: list[Task]
    next_token: str | None = Field(
        default=None, description="Pass as next_token for the next (older) page; absent on the last page."
    )


def model_kind_key(embedding_model_id: str, kind: TaskKind) -> str:
    """Partition key of the ByModelKind index: one partition per (model, kind)."""
    return f"{embedding_model_id}#{kind.value}"


@dataclass(frozen=True)
class ActiveTask:
    """Who holds a model's slot: the one task of the model that may be pending or in progress."""

    task_id: str
    kind: TaskKind
    since: datetime
    execution_arn: str


class GreenWaitRecord(BaseModel):
    """A deploy task's wait for green: the endpoint, its deadline and the task token to complete."""

    model_config = ConfigDict(frozen=True)

    endpoint_name: str
    deadline: str
    token: str


class BakeWaitRecord(BaseModel):
    """A deploy task's bake wait: the task token to complete and the alarms it watches (the caller's and
    the bake's own, under the one composite alarm whose state change event wakes the wait)."""

    model_config = ConfigDict(frozen=True)

    token: str
    alarms: list[str]
