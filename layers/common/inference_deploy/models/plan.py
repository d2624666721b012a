"""The execution input of a task's workflow (its first payload, models/workflow.py has the rest): the
plan a deploy decided when its task was created, and the stack's timing. Apart from models/workflow.py
so that the create function, which only starts executions, does not create the workflow's ~45 step
payload classes on its cold start."""

from pydantic import BaseModel, ConfigDict, Field

from inference_deploy.models.capacity import AutoscalingRequest
from inference_deploy.models.common import ModelId, TaskId
from inference_deploy.models.serving import EndpointRef
from inference_deploy.models.task import TaskKind


class _Payload(BaseModel):
    # as models/workflow.py's payloads: built when first used
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class Timing(_Payload):
    """Stack parameters, carried in the input so one execution runs with the values it started with."""

    poll_seconds: int = Field(ge=0)
    green_timeout_seconds: int = Field(ge=0)
    drain_seconds: int = Field(ge=0)
    removal_timeout_seconds: int = Field(ge=0)
    # Longest wait for green's state change event before DescribeEndpoint is asked (a lost event costs
    # at most this much delay); the default serves executions started before the setting existed.
    green_event_wait_seconds: int = Field(default=300, ge=1)


class BakePlan(_Payload):
    """The bake after the switch: how long, what to watch, how often (stack parameters at creation)."""

    seconds: int = Field(
        ge=0,
        description="How long the bake lasts: the request's (or the stack's), never less than the drain when "
        "it bakes at all (blue is retired straight after it, so requests still on blue finish first).",
    )
    requested: bool = Field(description="The request asked for it (a first deploy bakes only then).")
    alarms: list[str] = Field(default_factory=list, description="The request's rollback_alarms.")
    # True in plans made before the field existed: their bakes always made the alarms on green.
    green_alarms: bool = Field(default=True, description="The request's green_alarms: alarms on green's metrics.")
    error_threshold: int = Field(ge=1)
    latency_threshold_ms: int = Field(ge=1)


class CompatibilityPlan(_Payload):
    """The embedding-compatibility guard of one deploy, decided when the task is created."""

    min_mean_cosine: float = Field(ge=0, le=1)
    allow_change: bool = False
    probe_texts: list[str] | None = Field(default=None, description="The request's; the default set when None.")


class DeploymentPlan(_Payload):
    """What the deploy workflow will create, decided when the task is created."""

    instance_type: str
    initial_instance_count: int = Field(ge=1)
    # Set when the request named the count; otherwise green takes blue's CurrentInstanceCount (if any),
    # capped at max_instance_count, and initial_instance_count is the first deploy's.
    instance_count_requested: bool = False
    max_instance_count: int | None = Field(default=None, ge=1)
    autoscaling: AutoscalingRequest | None = None
    allow_dimension_change: bool = False
    deployment_target: str
    green: EndpointRef
    bake: BakePlan | None = None
    compatibility: CompatibilityPlan | None = None


class ExecutionInput(_Payload):
    task_id: TaskId
    embedding_model_id: ModelId
    kind: TaskKind
    timing: Timing
    deployment: DeploymentPlan | None = None
