"""The safety net for tasks nothing else will finish: a slot whose task never got an execution (the
create request died between recording the task and starting it, or lost both answers), or whose
execution ended without finishing it while the status-change event went missing."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.executions import Executions
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import DomainError, TaskNotFound
from inference_deploy.logic.tasks import RUNNING_STATUSES, START_GRACE
from inference_deploy.models.common import utc_now
from inference_deploy.models.task import TaskError, TaskStatus
from inference_deploy.observability import logger, metrics


def fail_stalled_tasks(
    store: TaskStore, models: ModelStore, executions: Executions, now: datetime | None = None
) -> list[str]:
    """Fail every slot holder older than START_GRACE whose execution is not running, freeing its slot
    in the same write. Returns the ids it failed; a holder that cannot be checked now is skipped (the
    next run tries again), never fatal to the others."""
    now = now or utc_now()
    failed: list[str] = []
    for model_id, holder in models.slot_holders():
        if now - holder.since <= START_GRACE:
            continue
        try:
            status = executions.status(holder.execution_arn)
            if status in RUNNING_STATUSES:
                continue
            _fail(store, models, model_id, holder.task_id, status)
        except DomainError:
            logger.exception("could not check a stalled task", extra={"task_id": holder.task_id})
            continue
        logger.warning("failed a stalled task", extra={"task_id": holder.task_id, "execution_status": status})
        metrics.add_metric(name="StalledTaskFailed", unit=MetricUnit.Count, value=1)
        failed.append(holder.task_id)
    return failed


def _fail(store: TaskStore, models: ModelStore, model_id: str, task_id: str, status: str | None) -> None:
    try:
        task = store.get(task_id)
    except TaskNotFound:
        logger.warning("a slot names a task that does not exist", extra={"task_id": task_id})
        models.release_slot(model_id, task_id)
        return
    if status is None:
        error = TaskError(
            code="execution_not_started",
            message=f"its execution never started ({int(START_GRACE.total_seconds())} s after the task was created)",
        )
    else:
        error = TaskError(code="execution_aborted", message=f"its execution ended {status} without finishing the task")
    # A task already terminal keeps its status; finish() then only frees the slot it left behind.
    store.finish(task_id, task.embedding_model_id, TaskStatus.FAILED, error, {})
