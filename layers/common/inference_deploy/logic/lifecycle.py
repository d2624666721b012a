"""The task lifecycle as the workflows drive it: in_progress, then succeeded or failed with a reason."""

from __future__ import annotations

from typing import Any

from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.logic.failures import failure_to_error
from inference_deploy.logic.outcome import outcome_metadata
from inference_deploy.models.task import Task, TaskStatus
from inference_deploy.models.workflow import StepFailure
from inference_deploy.observability import logger


def begin_task(task_id: str, store: TaskStore) -> Task:
    logger.append_keys(task_id=task_id)
    return store.mark_in_progress(task_id)


def finish_task(
    task_id: str,
    status: TaskStatus,
    failure: StepFailure | None,
    store: TaskStore,
    state: dict[str, Any] | None = None,
) -> Task:
    logger.append_keys(task_id=task_id)
    metadata = outcome_metadata(state or {})
    if status == TaskStatus.FAILED:
        error = failure_to_error(failure or StepFailure(Error="States.Unknown", Cause="the workflow failed"))
        logger.warning("task failed", extra={"error_code": error.code})
    else:
        error = None
    return store.finish(task_id, status, error, metadata)
