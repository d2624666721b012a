"""Payloads of the repair workflow (statemachine/repair.asl.json): its input, each round of ConvergeModel
and the event of EndTask. Field names are the contract with the ASL, as in models/workflow.py."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from inference_deploy.models.common import ModelId, TaskId
from inference_deploy.models.task import TaskError
from inference_deploy.models.workflow import StepFailure


class _Payload(BaseModel):
    # defer_build: each model is built when first used, so a cold start builds only those its function uses.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class RepairInput(_Payload):
    """What the abandonment handler or the unstarted-task sweep starts a repair with."""

    task_id: TaskId
    embedding_model_id: ModelId
    reason: TaskError = Field(description="How the task ends if the repair cannot end it with its intended result.")


class RepairRound(_Payload):
    """What the rounds of ConvergeModel did so far (each round adds to the previous one's answer)."""

    done: bool = False
    past_deadline: bool = False
    wait_seconds: int = Field(default=0, ge=0)
    rounds: int = 0
    slot_held: bool = True
    discarded: list[str] = Field(default_factory=list, description="Endpoints nobody served, deleted.")
    retired: list[str] = Field(default_factory=list, description="The endpoint green replaced, deleted.")
    configs_deleted: list[str] = Field(default_factory=list)
    rolled_back_to: str | None = None
    bake_ended: bool = False
    kept_green: str | None = Field(default=None, description="Why a bake was ended on green instead of rolled back.")
    alarms_removed: list[str] = Field(default_factory=list)
    routing_restored: bool = False
    removal_finished: bool = False
    left: list[str] = Field(default_factory=list, description="Endpoints SageMaker would not delete yet.")

    def summary(self) -> dict[str, object]:
        """What the task's metadata keeps: what was done, not the loop's bookkeeping."""
        return self.model_dump(mode="json", exclude={"done", "past_deadline", "wait_seconds"})


class ConvergeEvent(_Payload):
    task_id: TaskId
    embedding_model_id: ModelId
    started_at: datetime = Field(description="When the repair execution started ($$.Execution.StartTime).")
    so_far: RepairRound = Field(default_factory=RepairRound)


class EndRepairEvent(_Payload):
    task_id: TaskId
    embedding_model_id: ModelId
    reason: TaskError
    repair: RepairRound = Field(default_factory=RepairRound)
    failure: StepFailure | None = Field(default=None, description="Set when ConvergeModel failed for good.")


class EndedTask(_Payload):
    status: str
    error: TaskError | None = None
