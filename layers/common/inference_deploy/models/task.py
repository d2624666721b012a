"""The task: what the API returns, and how it is stored in DynamoDB.

A task's metadata (DeployMetadata, DeleteMetadata: the task's kind decides) is what its creation recorded,
its progress and what its steps found. Every key is optional: a key appears once a writer set it (a step
that did not run adds nothing), and the API shows exactly the keys set, as stored. Unknown keys (written by
an older or newer version of the service) are kept and shown as they are (extra="allow"): "ignore" would
drop from the API's answers what another version recorded, and a validation error on them would make the
task unreadable.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from inference_deploy.models.common import ModelId, TaskId, Timestamp, utc_now


class TaskKind(StrEnum):
    DEPLOY = "deploy"
    DELETE = "delete"


def task_kind(task_id: str) -> TaskKind:
    """A task's kind, its id's prefix (ids.py)."""
    return TaskKind(task_id.split("-", 1)[0])


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


class _SetKeysOnly(BaseModel):
    """Dumps the fields that were set (read from the item or assigned) and the unknown keys, nothing else."""

    # Built on first use: a cold start builds the models its requests use (Task and its two metadata models,
    # which build the StepRun schema inline), not this base, StepRun alone or TaskMetadata.
    model_config = ConfigDict(defer_build=True)

    # Unannotated return: pydantic then documents the model's fields (an annotation would replace them).
    @model_serializer(mode="wrap")
    def _set_keys_only(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        dumped = handler(self)
        keep = self.model_fields_set | set(self.model_extra or {})
        return {key: value for key, value in dumped.items() if key in keep}


class StepRun(_SetKeysOnly):
    """One run of a workflow state, as `metadata.step_runs` lists them (a polling state runs many times)."""

    model_config = ConfigDict(frozen=True)

    step: str = Field(description="The state's name in the state machine.", examples=["ProvisionGreen"])
    started_at: Timestamp
    ended_at: Timestamp
    runs: int | None = Field(
        default=None, ge=2, description="How many times the state ran in a row (polling), when more than once."
    )
    error: str | None = Field(default=None, description="The error the last run ended with, when it failed.")


class TaskMetadata(_SetKeysOnly):
    """The keys deploy and delete tasks share. Writers build an instance with the keys they set and write
    `updates()`; a typo is a mypy error and a wrong type a validation error, before anything is written."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    deployment_target: str | None = Field(default=None, description="The deployment target the stack serves.")
    initiated_by: str | None = Field(default=None, description="The caller's principal.")
    requested_by: dict[str, Any] | None = Field(
        default=None, description="The authorization's grant: who asked, with their owner tag."
    )
    current_step: str | None = Field(default=None, description="The workflow state now running (or last ran).")
    current_step_started_at: Timestamp | None = None
    step_runs: list[StepRun] | None = Field(default=None, description="Each state run, in order.")
    steps: dict[str, Timestamp] | None = Field(
        default=None, description="When each step of the outcome happened, by step (set when the task ends)."
    )
    cancelled_by: str | None = Field(default=None, description="Who cancelled the task (set once, first cancel).")
    cancel_requested_at: Timestamp | None = None
    cancel_reason: str | None = None
    repair: dict[str, Any] | None = Field(default=None, description="What a repair execution did to end the task.")
    repair_failure: dict[str, Any] | None = Field(default=None, description="The failure that started the repair.")

    def updates(self) -> dict[str, Any]:
        """The keys set, as the item stores them (JSON values), for a write that sets only these. A writer
        names only keys this model declares (unknown keys are only ever read, never written)."""
        if self.model_extra:
            raise ValueError(f"not task metadata keys: {', '.join(sorted(self.model_extra))}")
        return self.model_dump(mode="json")


class DeployMetadata(TaskMetadata):
    """A deploy task's metadata."""

    model_config = ConfigDict(defer_build=False)  # every route's first request validates one (Task)

    instance_type: str | None = None
    initial_instance_count: int | None = None
    allow_dimension_change: bool | None = None
    instance_count_requested: bool | None = None
    autoscaling_requested: dict[str, Any] | None = Field(default=None, description="The request's autoscaling.")
    endpoint_name: str | None = Field(default=None, description="Green's endpoint.")
    endpoint_config_name: str | None = None
    bake_seconds: int | None = None
    rollback_alarms: list[str] | None = None
    green_alarms: bool | None = Field(default=None, description="The bake watches green with alarms of its own.")
    allow_embedding_change: bool | None = None
    min_mean_cosine: float | None = None
    probe_set: Literal["request", "default"] | None = None
    green_requested_at: Timestamp | None = Field(default=None, description="When green's creation was requested.")
    previous_endpoint_name: str | None = Field(default=None, description="Blue's endpoint; null: none served.")
    previous_endpoint_config_name: str | None = None
    previous_embedding_dimension: int | None = None
    capacity: dict[str, Any] | None = Field(default=None, description="What green was given (CapacityRecord).")
    embedding_dimension: int | None = None
    smoke_test_latency_ms: float | None = None
    compatibility: dict[str, Any] | None = Field(
        default=None, description="The embedding compatibility figures; null when there was nothing to compare."
    )
    reembedding_required: bool | None = None
    compatibility_skipped: str | None = None
    bake_ends_at: Timestamp | None = None
    bake_alarms: list[str] | None = None
    bake_alarms_left: list[str] | None = Field(
        default=None, description="The bake's own alarms not deleted at the end (the reconciler deletes them)."
    )
    tripped_alarm: dict[str, Any] | None = None
    rollback_reason: Literal["alarm", "green_metrics", "cancelled", "check_failed"] | None = None
    rolled_back_to: str | None = None
    green_discarded: bool | None = None
    retire_blue_error: TaskError | None = None
    switch_reported_error: TaskError | None = None
    discard_green_error: TaskError | None = None


class DeleteMetadata(TaskMetadata):
    """A delete task's metadata."""

    model_config = ConfigDict(defer_build=False)

    deletion_type: Literal["manual", "automated"] | None = None
    reason: str | None = None
    removal_started_at: Timestamp | None = Field(default=None, description="When the first endpoint delete began.")
    removed_endpoint_name: str | None = None
    deleted_resources: list[str] | None = None
    removal_reported_error: TaskError | None = None
    restore_routing_error: TaskError | None = None


def metadata_key(name: str) -> str:
    """A metadata key an update expression names, checked once (at import) against the models' fields."""
    if name not in DeployMetadata.model_fields and name not in DeleteMetadata.model_fields:
        raise ValueError(f"{name} is not a task metadata key")
    return name


# The metadata key a cancel writes first; the workflow's commits (switch, end of bake, removal) check it.
CANCELLED_BY = metadata_key("cancelled_by")


class Task(BaseModel):
    """A deploy or delete task, in the shape of the API contract plus the execution and error fields."""

    model_config = ConfigDict(frozen=True)

    id: TaskId
    embedding_model_id: ModelId
    status: TaskStatus
    created_at: Timestamp
    updated_at: Timestamp
    metadata: DeployMetadata | DeleteMetadata = Field(
        default_factory=DeployMetadata, description="DeployMetadata for a deploy task, DeleteMetadata for a delete."
    )
    execution_arn: str | None = Field(
        default=None, description="Step Functions execution running this task (its name is the task id)."
    )
    error: TaskError | None = Field(default=None, description="Set when status is failed.")

    @property
    def kind(self) -> TaskKind:
        return task_kind(self.id)

    @model_validator(mode="before")
    @classmethod
    def _metadata_of_its_kind(cls, values: Any) -> Any:
        """The task's kind (its id's prefix) decides the metadata model, not the keys that happen to be set."""
        if isinstance(values, dict) and isinstance(values.get("id"), str):
            metadata = values.get("metadata")
            model = DeleteMetadata if values["id"].startswith(f"{TaskKind.DELETE.value}-") else DeployMetadata
            if metadata is None or isinstance(metadata, dict):
                values = {**values, "metadata": model.model_validate(metadata or {})}
        return values

    @classmethod
    def new(
        cls, task_id: str, embedding_model_id: str, metadata: DeployMetadata | DeleteMetadata, execution_arn: str
    ) -> Self:
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


class TaskPage(BaseModel):
    """One page of a model's tasks, newest first."""

    # defer_build (here and below): built on first use, by the routes and steps that use it, not on every cold start
    model_config = ConfigDict(frozen=True, defer_build=True)

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

    model_config = ConfigDict(frozen=True, defer_build=True)

    endpoint_name: str
    deadline: str
    token: str


class BakeWaitRecord(BaseModel):
    """A deploy task's bake wait: the task token to complete and the alarms it watches (the caller's and
    the bake's own, under the one composite alarm whose state change event wakes the wait)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    token: str
    alarms: list[str]
