"""Payloads that cross the state machine boundary: each step's event and result (the execution input,
what the create function starts an execution with, is in models/plan.py).

The state machines pass these between Lambda steps with JSONPath; field names here are the contract
with statemachine/*.asl.json (the component tests run the real ASL against these models).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inference_deploy.models.capacity import CapacityRecord, ScalingSetup
from inference_deploy.models.common import ModelId, TaskId, Timestamp
from inference_deploy.models.plan import BakePlan, CompatibilityPlan

# Re-exported: the workflow steps (logic/outcome.py) import them from here.
from inference_deploy.models.plan import DeploymentPlan as DeploymentPlan  # noqa: PLC0414
from inference_deploy.models.plan import Timing as Timing  # noqa: PLC0414
from inference_deploy.models.serving import EndpointRef, ServingRecord
from inference_deploy.models.task import TaskStatus


class _Payload(BaseModel):
    # defer_build: each model is built when first used, so a cold start builds only those its function uses.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


def plan_bakes(bake: BakePlan | None, blue: object | None) -> bool:
    """The deploy workflow's IsBaking rule: a bake time, and a blue to go back to or a request that asked."""
    return bake is not None and bake.seconds > 0 and (blue is not None or bake.requested)


class StepFailure(_Payload):
    """What a Catch with ResultPath puts in the state: the error name and its cause."""

    Error: str
    Cause: str | None = None


class StepProgress(_Payload):
    """What each Task state passes for live progress: its task and its own name (`$$.State.Name`)."""

    task_id: TaskId
    step: str = Field(min_length=1, max_length=80)


class TaskStepEvent(_Payload):
    task_id: TaskId


class ModelStepEvent(_Payload):
    embedding_model_id: ModelId


class UnrouteEvent(ModelStepEvent):
    task_id: TaskId | None = None  # the delete task, whose cancel the unroute must not outlive


class ResolvedModel(_Payload):
    model_arn: str
    blue: ServingRecord | None
    at: Timestamp


class ProvisionGreenEvent(_Payload):
    task_id: TaskId
    embedding_model_id: ModelId
    deployment: DeploymentPlan
    timing: Timing
    # Given only by executions started before ResolveModel was folded into ProvisionGreen (they resolved it).
    blue: ServingRecord | None = None


class ProvisionedGreen(_Payload):
    deadline: Timestamp
    at: Timestamp
    capacity: CapacityRecord | None = None
    resolved: ResolvedModel | None = Field(default=None, description="The model and blue, resolved first.")


class ApplyScalingEvent(_Payload):
    task_id: TaskId
    embedding_model_id: ModelId
    deployment: DeploymentPlan
    blue: ServingRecord | None = None
    capacity: CapacityRecord | None = Field(default=None, description="What ProvisionGreen gave green.")


class ScalingApplied(_Payload):
    """Green's capacity once its scaling is in place (the serving record and the task metadata show it)."""

    capacity: CapacityRecord | None = None
    autoscaling: ScalingSetup | None = None
    at: Timestamp


class CheckGreenEvent(_Payload):
    green: EndpointRef
    deadline: Timestamp


class AwaitGreenEvent(CheckGreenEvent):
    """The green wait: the task token to settle once green is InService, Failed or past its deadline."""

    task_id: TaskId
    task_token: str = Field(min_length=1)


class GreenWait(_Payload):
    """What one look at a waiting green did: `settled` when it completed the wait's task token."""

    status: str
    settled: bool

    @property
    def failed_with(self) -> str | None:
        """The error this look failed the wait with (its token failed, no exception), for its progress run."""
        return self.status if self.settled and self.status in ("GreenFailed", "GreenTimeout") else None


class EndpointStateDetail(_Payload):
    EndpointName: str
    EndpointStatus: str | None = None


class AlarmState(_Payload):
    value: str


class AlarmStateDetail(_Payload):
    alarmName: str  # noqa: N815 - the event's own spelling
    state: AlarmState


class AlarmStateChange(_Payload):
    """EventBridge's "CloudWatch Alarm State Change" event (only the fields used)."""

    detail: AlarmStateDetail


class EndpointStateChange(_Payload):
    """EventBridge's "SageMaker Endpoint State Change" event (only the fields used)."""

    detail: EndpointStateDetail


class GreenStatus(_Payload):
    status: str
    in_service: bool
    at: Timestamp


class SmokeTestEvent(_Payload):
    green: EndpointRef
    blue: ServingRecord | None = None
    allow_dimension_change: bool = False


class SmokeTestResult(_Payload):
    embedding_dimension: int
    latency_ms: float
    probes: int
    at: Timestamp


class CompatibilityFigures(_Payload):
    """What the embedding-compatibility guard measured (logic/compatibility.py)."""

    probe_count: int = Field(ge=2)
    mean_cosine: float = Field(description="Mean cosine between each probe's blue and green vectors.")
    p5_cosine: float = Field(description="5th percentile (nearest rank) of those cosines.")
    neighbour_overlap_at_10: float = Field(
        description="Mean share of each probe's 10 nearest probes (cosine) that blue and green agree on."
    )
    pairwise_similarity_spearman: float = Field(
        description="Spearman correlation of the probes' pairwise cosines in blue and in green."
    )


class CompatibilityEvent(_Payload):
    task_id: TaskId
    green: EndpointRef
    blue: ServingRecord | None = None
    embedding_dimension: int = Field(gt=0, description="Green's, as the smoke test found it.")
    plan: CompatibilityPlan | None = None


class CompatibilityCheck(_Payload):
    """What the guard found on a rollout that goes on (one that does not raises EmbeddingSpaceChanged)."""

    figures: CompatibilityFigures | None = None
    skipped: Literal["no_blue", "dimension_changed", "not_planned"] | None = None
    min_mean_cosine: float | None = None
    reembedding_required: bool = False
    invocations: int = Field(default=0, ge=0)
    at: Timestamp


class PrepareGreenEvent(_Payload):
    """Green InService: its scaling, the smoke test, then the embedding-compatibility guard, in one step."""

    task_id: TaskId
    embedding_model_id: ModelId
    deployment: DeploymentPlan
    blue: ServingRecord | None = None
    capacity: CapacityRecord | None = Field(default=None, description="What ProvisionGreen gave green.")


class PreparedGreen(_Payload):
    scaling: ScalingApplied
    smoke_test: SmokeTestResult
    compatibility: CompatibilityCheck


class SwitchTrafficEvent(_Payload):
    task_id: TaskId
    embedding_model_id: ModelId
    green: EndpointRef
    blue: ServingRecord | None = None
    embedding_dimension: int = Field(gt=0)
    bake: BakePlan | None = Field(
        default=None, description="The plan's bake: its alarms first, blue kept as `previous` (none: no bake)."
    )
    capacity: CapacityRecord | None = None


class SwitchedTraffic(_Payload):
    since: Timestamp
    at: Timestamp
    bake_ends_at: Timestamp | None = None
    bake_alarms: list[str] | None = Field(default=None, description="What the bake watches (None: no bake).")


class AlarmTrip(_Payload):
    name: str
    reason: str


class CheckBakeEvent(_Payload):
    """AwaitBake (`.waitForTaskToken`): the token is stored first, for a watched alarm's state change event
    (or a cancel) to complete, then the watched alarms are looked at once."""

    task_id: TaskId
    embedding_model_id: ModelId
    bake: BakePlan
    task_token: str = Field(min_length=1)


class BakeCheck(_Payload):
    """What completes the bake's wait early: `tripped`, an alarm in ALARM (roll back); None when none is."""

    tripped: AlarmTrip | None = None
    at: Timestamp


class RollBackReason(_Payload):
    """Why a bake is rolled back: an alarm tripped, the task was cancelled, or the bake could not be checked
    or ended (`failure`, what AwaitBake or RetireBlue's end of the bake raised): an unproven green is never
    kept on a guess."""

    reason: Literal["alarm", "green_metrics", "cancelled", "check_failed"]
    tripped: AlarmTrip | None = None
    failure: StepFailure | None = None


class RollBackEvent(_Payload):
    task_id: TaskId
    embedding_model_id: ModelId
    green: EndpointRef
    blue: ServingRecord | None = Field(default=None, description="The serving record before the switch.")
    why: RollBackReason


class RolledBackTraffic(_Payload):
    """A cancel during the bake, undone: traffic is back on `rolled_back_to` and green is deleted."""

    rolled_back_to: str
    green_discarded: bool
    at: Timestamp


class DiscardGreenEvent(_Payload):
    embedding_model_id: ModelId
    green: EndpointRef
    started_at: Timestamp | None = Field(
        default=None, description="When the discard began (its deadline counts from it)."
    )
    timeout_seconds: int = Field(default=0, ge=0, description="How long to wait for SageMaker to allow the delete.")


class DiscardedGreen(_Payload):
    """`done` once green is deleted, being deleted, gone or serving; otherwise SageMaker does not allow
    the delete yet (green is `status`) and the workflow asks again after a poll interval."""

    deleted: bool
    done: bool = True
    status: str | None = None
    # the serving record names green: a switch that reported an error landed, so the rollout goes on
    serving: bool = False
    at: Timestamp


class DeletedEndpoint(_Payload):
    deleted: bool
    at: Timestamp


class RetireBlueEvent(_Payload):
    """RetireBlue: after a bake, end it; then delete blue (a first deploy that baked has none); then, with
    the execution state, write the task's terminal status (the rollout's last step)."""

    task_id: TaskId
    embedding_model_id: ModelId
    blue: ServingRecord | None = None
    bake: BakePlan | None = None
    state: dict[str, Any] | None = Field(
        default=None, description="The execution state, for the task's metadata; None: MarkSucceeded finishes it."
    )


class RetiredBlue(DeletedEndpoint):
    bake_ended_at: Timestamp | None = Field(default=None, description="The bake passed: the record forgot blue.")


class UnroutedModel(_Payload):
    removed: ServingRecord | None
    at: Timestamp


class RestoreRoutingEvent(_Payload):
    record: ServingRecord | None = None
    # Set instead of `record` after UnrouteModel failed: put back whatever it may have unrouted.
    embedding_model_id: ModelId | None = None


class RestoredRouting(_Payload):
    restored: bool
    # The endpoint is gone or going: the removal is past the point of return and should finish.
    endpoint_gone: bool = False


class SweepEvent(_Payload):
    embedding_model_id: ModelId
    task_id: TaskId | None = Field(
        default=None, description="Set on the first sweep: past it the delete can no longer be cancelled."
    )
    started_at: Timestamp = Field(description="When the model was unrouted; the deadline counts after the drain.")
    drain_seconds: int = Field(ge=0)
    timeout_seconds: int = Field(ge=0)


class SweepResult(_Payload):
    deleted: list[str]
    remaining: list[str]
    done: bool
    at: Timestamp


class FinishTaskEvent(_Payload):
    task_id: TaskId
    embedding_model_id: ModelId
    status: TaskStatus
    failure: StepFailure | None = None
    state: dict[str, Any] = Field(default_factory=dict, description="The execution state, for the task's metadata.")
    attempt: int = Field(default=0, ge=0, description="The state's retry count ($$.State.RetryCount).")


class ExecutionStatusDetail(_Payload):
    """The part of Step Functions' "Execution Status Change" event this service reads."""

    executionArn: str  # noqa: N815 - EventBridge's field names
    name: str
    status: str
    cause: str | None = None
    error: str | None = None


class ExecutionStatusChange(_Payload):
    detail: ExecutionStatusDetail


class ReconcileReport(BaseModel):
    """What one reconciler run did (or, in a dry run, would do)."""

    dry_run: bool
    deleted: list[str] = Field(default_factory=list)
    would_delete: list[str] = Field(default_factory=list)
    busy: list[str] = Field(default_factory=list, description="Orphans SageMaker will not delete yet.")
    kept: int = 0
