"""Payloads that cross the state machine boundary: execution input and step events."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from inference_deploy.models.common import ModelId, TaskId
from inference_deploy.models.task import TaskKind, TaskStatus


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ExecutionInput(_Payload):
    task_id: TaskId
    embedding_model_id: ModelId
    kind: TaskKind


class StepFailure(_Payload):
    """What a Catch with ResultPath puts in the state: the error name and its cause."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    Error: str
    Cause: str | None = None


class TaskStepEvent(_Payload):
    task_id: TaskId


class FinishTaskEvent(_Payload):
    task_id: TaskId
    status: TaskStatus
    failure: StepFailure | None = None
