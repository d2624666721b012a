"""Domain errors. Adapters raise them instead of ClientError; the API maps them to HTTP in one place.

Workflow steps let them propagate: Lambda reports the class name as `errorType`, which the state
machines match in Retry/Catch, so class names here are part of the ASL contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inference_deploy.models.task import ActiveTask


class DomainError(Exception):
    """Base of every error the service reports on purpose. `code` is the machine-readable reason."""

    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def problem_fields(self) -> dict[str, Any]:
        """Extra members of the problem body a client needs to act on this error."""
        return {}


class ConfigurationError(DomainError):
    """A required setting is missing or invalid: a deployment mistake, reported at first use."""

    code = "configuration_error"


class TaskNotFound(DomainError):
    code = "task_not_found"


class ModelHasNoTasks(DomainError):
    code = "no_task_for_model"


class TaskConflict(DomainError):
    """The task store refused a write because the item is not in the state the caller expected."""

    code = "task_conflict"


class ModelBusy(DomainError):
    """Another task holds the model's slot: one rollout or removal at a time per model. The store raises
    it when a write finds the slot taken; the caller decides whether the holder is still active."""

    code = "model_busy"

    def __init__(self, holder: ActiveTask, message: str | None = None) -> None:
        super().__init__(message or f"{holder.kind.value} task {holder.task_id} is active")
        self.holder = holder

    @property
    def active_task_id(self) -> str:
        return self.holder.task_id

    @property
    def active_task_kind(self) -> str:
        return self.holder.kind.value

    def problem_fields(self) -> dict[str, Any]:
        return {"active_task_id": self.active_task_id, "active_task_kind": self.active_task_kind}


class IdempotencyKeyReused(DomainError):
    """The Idempotency-Key was used before with another request body."""

    code = "idempotency_key_reused"


class RequestInProgress(DomainError):
    """A request with the same Idempotency-Key is being handled right now."""

    code = "request_in_progress"


class ExecutionStartFailed(DomainError):
    """The workflow could not be started; the task was rolled back and the caller may retry."""

    code = "execution_start_failed"


class WorkflowServiceUnavailable(DomainError):
    """Step Functions could not be asked about an execution; the caller may retry."""

    code = "workflow_service_unavailable"


class StoreUnavailable(DomainError):
    """DynamoDB throttled or failed after the SDK's own retries."""

    code = "store_unavailable"


class InvalidPageToken(DomainError):
    """A next_token this API did not issue for this model and kind filter (or altered on the way)."""

    code = "invalid_next_token"


class ModelNotServed(DomainError):
    """The model has no serving record: there is nothing to remove."""

    code = "model_not_served"


class Forbidden(DomainError):
    """The caller may not act on this model: its owner tag does not match the model's, and it is no admin.
    `tag_key` names the tag that decided; the values (other teams') never leave the service."""

    code = "forbidden"

    def __init__(self, message: str, *, tag_key: str) -> None:
        super().__init__(message)
        self.tag_key = tag_key

    def problem_fields(self) -> dict[str, Any]:
        return {"tag_key": self.tag_key}


class AuthorizationUnavailable(DomainError):
    """IAM or SageMaker could not be asked for the tags the decision needs (throttled, no answer); retry."""

    code = "authorization_unavailable"


class CostLimitExceeded(DomainError):
    """The deploy asks for an instance type outside the stack's allowlist, or more instances than its maximum."""

    code = "cost_limit_exceeded"

    def __init__(
        self, message: str, *, errors: list[tuple[str, str]], allowed_instance_types: list[str], max_instance_count: int
    ) -> None:
        super().__init__(message)
        self.errors = errors
        self.allowed_instance_types = allowed_instance_types
        self.max_instance_count = max_instance_count

    def problem_fields(self) -> dict[str, Any]:
        return {
            "errors": [{"location": location, "message": message} for location, message in self.errors],
            "allowed_instance_types": self.allowed_instance_types,
            "max_instance_count": self.max_instance_count,
        }


class CapacityDrop(DomainError):
    """The deploy names fewer instances than blue serves with now, and did not allow the drop."""

    code = "capacity_drop"

    def __init__(self, message: str, *, requested: int, blue_instance_count: int, blue_endpoint: str) -> None:
        super().__init__(message)
        self.requested = requested
        self.blue_instance_count = blue_instance_count
        self.blue_endpoint = blue_endpoint

    def problem_fields(self) -> dict[str, Any]:
        return {
            "errors": [
                {
                    "location": "body.initial_instance_count",
                    "message": f"blue serves with {self.blue_instance_count} instances; "
                    'send "allow_capacity_drop": true to start green with fewer',
                }
            ],
            "blue_instance_count": self.blue_instance_count,
        }


# ---- workflow errors: their class names are matched by the state machines' Retry and Catch rules.


class ModelNotFound(DomainError):
    code = "model_not_found"


class ModelGoneBesideGreen(ModelNotFound):
    """The model disappeared once green may exist (a retried ProvisionGreen, a refused create): the same
    code, but a name the deploy workflow does not route to MarkFailed, so green is discarded first."""


class SageMakerThrottled(DomainError):
    """SageMaker throttled or had a transient fault after the SDK's retries; the workflow retries with backoff."""

    code = "sagemaker_throttled"


class SageMakerError(DomainError):
    """SageMaker refused a request for a reason retrying will not fix (permissions, quotas, bad input)."""

    code = "sagemaker_error"


class AutoscalingThrottled(DomainError):
    """Application Auto Scaling throttled or had a transient fault after the SDK's retries; the workflow retries."""

    code = "autoscaling_throttled"


class AutoscalingError(DomainError):
    """Application Auto Scaling refused a request for a reason retrying will not fix."""

    code = "autoscaling_error"


class EndpointBusy(DomainError):
    """SageMaker refuses to delete the endpoint while an operation runs on it (Creating, Updating,
    SystemUpdating, RollingBack); it can be deleted once that operation ends."""

    code = "endpoint_busy"


class GreenFailed(DomainError):
    """The green endpoint ended in a state other than InService; the message is SageMaker's FailureReason."""

    code = "green_failed"


class GreenTimeout(DomainError):
    code = "green_timeout"


class SmokeTestFailed(DomainError):
    """Green answered, but not with usable embeddings."""

    code = "smoke_test_failed"


class DimensionChanged(DomainError):
    """Green's embedding dimension differs from blue's and the request did not allow it."""

    code = "dimension_changed"


class EmbeddingSpaceChanged(DomainError):
    """Green's vectors of the probe texts are too far from blue's (mean cosine below the threshold) and the
    request did not allow it."""

    code = "embedding_space_changed"


class ServingRecordChanged(DomainError):
    """The serving record no longer points where the workflow saw it: someone else switched it."""

    code = "serving_record_changed"


class RemovalTimeout(DomainError):
    code = "removal_timeout"


# ---- bake and cancel


class CloudWatchUnavailable(DomainError):
    """CloudWatch throttled or failed after the SDK's retries; the caller (or the workflow) retries."""

    code = "cloudwatch_unavailable"


class UnknownAlarms(DomainError):
    """A deploy request names CloudWatch alarms that do not exist."""

    code = "unknown_alarms"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"no CloudWatch alarm named {', '.join(repr(name) for name in missing)}")
        self.missing = missing

    def problem_fields(self) -> dict[str, Any]:
        return {"missing_alarms": self.missing}


class AlarmsNotAllowed(DomainError):
    """A deploy request names alarms outside the prefix callers may name (answered without looking them up,
    so the answer says nothing about which alarms of the account exist)."""

    code = "alarms_not_allowed"

    def __init__(self, names: list[str], prefix: str) -> None:
        listed = ", ".join(repr(name) for name in names)
        super().__init__(f"rollback_alarms may name only alarms whose names start with {prefix!r}: {listed}")
        self.names = names
        self.prefix = prefix

    def problem_fields(self) -> dict[str, Any]:
        return {"alarms_not_allowed": self.names, "alarm_prefix": self.prefix}


class RolledBack(DomainError):
    """A watched alarm went to ALARM during the bake: traffic went back to blue and green was discarded."""

    code = "rolled_back"


class AlarmDuringBake(DomainError):
    """A watched alarm went to ALARM during the bake of a first deploy: there was nothing to roll back to."""

    code = "alarm_during_bake"


class BakeCheckFailed(DomainError):
    """The bake's alarms could not be checked and blue could not take traffic again: green kept serving."""

    code = "bake_check_failed"


class GreenMetricsBreached(DomainError):
    """When the bake ended, green's own Invocation5XXErrors or ModelLatency had breached the bake's
    thresholds during it: the workflow rolls back (RetireBlue raises it before ending the bake)."""

    code = "green_metrics_breached"


class TaskNotFinished(DomainError):
    """RetireBlue retired blue but could not write the task's terminal status itself (DynamoDB or
    CloudWatch failing): the workflow's MarkSucceeded writes it, with its own retries."""

    code = "task_not_finished"


class CancelNotHonoured(DomainError):
    """A cancel during the bake found blue no longer InService: green kept serving, nothing rolled back."""

    code = "cancel_not_honoured"


class TaskCancelled(DomainError):
    """The task was cancelled: a workflow step that would commit a change refuses to."""

    code = "task_cancelled"


class TaskNotCancellable(TaskConflict):
    """The task is past the point where a cancel can undo it (or already ended)."""

    code = "task_not_cancellable"

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status

    def problem_fields(self) -> dict[str, Any]:
        return {"task_status": self.status}
