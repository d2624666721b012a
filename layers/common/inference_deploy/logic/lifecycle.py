"""The task lifecycle as the workflows drive it: in_progress, then succeeded or failed with a reason."""

from __future__ import annotations

import json
from typing import Any

from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import DomainError
from inference_deploy.models.task import Task, TaskError, TaskStatus
from inference_deploy.models.workflow import StepFailure
from inference_deploy.observability import logger


def _domain_error_codes() -> dict[str, str]:
    codes: dict[str, str] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        codes[cls.__name__] = cls.code
        pending.extend(cls.__subclasses__())
    return codes


def failure_to_error(failure: StepFailure) -> TaskError:
    """Turn what Step Functions caught into the task's error: our own error classes keep their code;
    Step Functions and Lambda platform errors get a generic one; the message is Lambda's errorMessage."""
    message = failure.Cause or failure.Error
    if failure.Cause:
        try:
            cause: Any = json.loads(failure.Cause)
        except json.JSONDecodeError:
            cause = None
        if isinstance(cause, dict) and isinstance(cause.get("errorMessage"), str):
            message = cause["errorMessage"]
    codes = _domain_error_codes()
    if failure.Error in codes:
        code = codes[failure.Error]
    elif failure.Error == "States.Timeout":
        code = "step_timeout"
    elif failure.Error.startswith(("Lambda.", "States.")):
        code = "step_failed"
    else:
        code = "internal_error"
    return TaskError(code=code, message=message[:1000])


def begin_task(task_id: str, store: TaskStore) -> Task:
    logger.append_keys(task_id=task_id)
    return store.mark_in_progress(task_id)


def finish_task(
    task_id: str,
    status: TaskStatus,
    failure: StepFailure | None,
    store: TaskStore,
    metadata: dict[str, Any] | None = None,
) -> Task:
    logger.append_keys(task_id=task_id)
    if status == TaskStatus.FAILED:
        error = failure_to_error(failure or StepFailure(Error="States.Unknown", Cause="the workflow failed"))
        logger.warning("task failed", extra={"error_code": error.code})
    else:
        error = None
    return store.finish(task_id, status, error, metadata or {})
