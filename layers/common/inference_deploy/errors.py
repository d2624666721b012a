"""Domain errors. Adapters raise them instead of ClientError; the API maps them to HTTP in one place.

Workflow steps let them propagate: Lambda reports the class name as `errorType`, which the state
machines match in Retry/Catch, so class names here are part of the ASL contract.
"""

from __future__ import annotations

from typing import Any


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


class ExecutionStartFailed(DomainError):
    """The workflow could not be started; the task was rolled back and the caller may retry."""

    code = "execution_start_failed"


class StoreUnavailable(DomainError):
    """DynamoDB throttled or failed after the SDK's own retries."""

    code = "store_unavailable"
