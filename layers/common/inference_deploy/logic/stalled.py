"""The safety net for tasks nothing else will finish: a slot whose task never got an execution (the
create request died between recording the task and starting it, or lost both answers), or whose
execution ended without finishing it while the status-change event went missing. Such a task is handed
to its repair (logic/repair.py), like an abandoned one: the sweep itself deletes and re-routes nothing."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.executions import Executions, Repairs
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import DomainError, TaskNotFound
from inference_deploy.logic.repair import start_repair
from inference_deploy.logic.tasks import RUNNING_STATUSES, START_GRACE
from inference_deploy.models.common import utc_now
from inference_deploy.models.task import ActiveTask, TaskError, TaskMetadata, TaskStatus
from inference_deploy.observability import logger, metrics


def repair_stalled_tasks(
    store: TaskStore, models: ModelStore, executions: Executions, repairs: Repairs, now: datetime | None = None
) -> list[str]:
    """Start the repair of every slot holder older than START_GRACE whose execution is not running.
    Returns the ids it handed to a repair (or, for a repair that itself ended without ending its task,
    failed); a holder that cannot be checked now is skipped (the next run tries again), never fatal to
    the others. A repair already started is not started twice (its name is the task's)."""
    now = now or utc_now()
    repaired: list[str] = []
    for model_id, holder in models.slot_holders():
        if now - holder.since <= START_GRACE:
            continue
        try:
            status = executions.status(holder.execution_arn)
            if status in RUNNING_STATUSES:
                continue
            if not _repair(store, models, repairs, holder, model_id=model_id, status=status):
                continue
        except DomainError:
            logger.exception("could not check a stalled task", extra={"task_id": holder.task_id})
            continue
        logger.warning("stalled task handed over", extra={"task_id": holder.task_id, "execution_status": status})
        metrics.add_metric(name="StalledTaskRepaired", unit=MetricUnit.Count, value=1)
        repaired.append(holder.task_id)
    return repaired


def _repair(
    store: TaskStore, models: ModelStore, repairs: Repairs, holder: ActiveTask, *, model_id: str, status: str | None
) -> bool:
    try:
        task = store.get(holder.task_id)
    except TaskNotFound:
        logger.warning("a slot names a task that does not exist", extra={"task_id": holder.task_id})
        models.release_slot(model_id, holder.task_id)
        return False
    handed_over = holder.execution_arn == repairs.arn_for(task.id)
    if handed_over and status is not None:
        # The repair itself ended without ending the task (its last step kept failing): the last resort
        # is to end the task here and free the slot; what is left is the reconciler's.
        error = TaskError(
            code="repair_failed",
            message=f"its execution ended without finishing the task, and its repair ended {status} too",
        )
        store.finish(task.id, task.embedding_model_id, TaskStatus.FAILED, error, TaskMetadata())
        metrics.add_metric(name="RepairFailed", unit=MetricUnit.Count, value=1)
        return True
    # A repair whose start was lost (status None) is started again, for the same reason.
    if status is None and (not handed_over or task.status is TaskStatus.PENDING):
        error = TaskError(
            code="execution_not_started",
            message=f"its execution never started ({int(START_GRACE.total_seconds())} s after the task was created)",
        )
    else:
        ended = f"ended {status}" if status is not None else "ended"
        error = TaskError(code="execution_aborted", message=f"its execution {ended} without finishing the task")
    return start_repair(task, error, models, repairs)
