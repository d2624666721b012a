"""The task lifecycle as the workflows drive it: in_progress, then succeeded or failed with a reason."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.alarms import Alarms
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import CANCELLED_BY, TaskStore
from inference_deploy.errors import TaskNotFound
from inference_deploy.logic.abandonment import compensate
from inference_deploy.logic.failures import failure_to_error
from inference_deploy.logic.outcome import outcome_metadata
from inference_deploy.models.task import Task, TaskError, TaskStatus
from inference_deploy.models.workflow import ExecutionStatusDetail, FinishTaskEvent, StepFailure
from inference_deploy.observability import logger, metrics


def begin_task(task_id: str, store: TaskStore) -> Task:
    logger.append_keys(task_id=task_id)
    return store.mark_in_progress(task_id)


def finish_task(event: FinishTaskEvent, store: TaskStore, alarms: Alarms | None = None) -> Task:
    """The terminal status, the error when it failed, what the steps did; frees the model's slot. A bake's
    own alarms go first: every way a rollout ends passes here (or through the abandonment below)."""
    logger.append_keys(task_id=event.task_id)
    if alarms is not None and _may_have_bake_alarms(event.state):
        alarms.delete_for_task(event.task_id)
    error = None
    if event.status == TaskStatus.FAILED:
        error = failure_to_error(event.failure or StepFailure(Error="States.Unknown", Cause="the workflow failed"))
        logger.warning("task failed", extra={"error_code": error.code})
    task = store.finish(event.task_id, event.embedding_model_id, event.status, error, outcome_metadata(event.state))
    # DeployTaskSucceeded, DeployTaskFailed, DeleteTaskSucceeded, DeleteTaskFailed
    outcome = f"{task.kind.value.capitalize()}Task{task.status.value.capitalize()}"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    return task


def _may_have_bake_alarms(state: dict[str, Any]) -> bool:
    """The plan had a bake (a failed CreateBakeAlarms may have made one alarm of two)."""
    bake = (state.get("deployment") or {}).get("bake") if isinstance(state.get("deployment"), dict) else None
    return isinstance(bake, dict) and bool(bake.get("seconds"))


ENDED_WITHOUT_FINISHING = {"FAILED", "TIMED_OUT", "ABORTED"}


def finish_abandoned_task(
    detail: ExecutionStatusDetail,
    store: TaskStore,
    models: ModelStore,
    sagemaker: SageMaker,
    alarms: Alarms | None = None,
) -> Task | None:
    """An execution ended without its MarkSucceeded/MarkFailed (aborted by an operator, timed out,
    or failed in its last step): compensate what it left half done (logic/abandonment.py), then mark
    the task failed with what was done and free the slot, so neither waits for the next request to
    notice. A task the workflow already finished is left as it is."""
    logger.append_keys(task_id=detail.name)
    if detail.status not in ENDED_WITHOUT_FINISHING:
        return None
    try:
        task = store.get(detail.name)
    except TaskNotFound:
        logger.warning("no task for the execution", extra={"execution_arn": detail.executionArn})
        return None
    if task.status.is_terminal:
        return task
    reason = ": ".join(part for part in (detail.error, detail.cause) if part)
    error: TaskError | None = TaskError(
        code="execution_aborted",
        message=f"its execution ended {detail.status} without finishing the task" + (f" ({reason})" if reason else ""),
    )
    status = TaskStatus.FAILED
    if CANCELLED_BY in task.metadata:  # a cancel stopped it and did not get to finish the task
        status, error = TaskStatus.CANCELLED, None
    done = compensate(task, models, sagemaker, alarms)
    finished = store.finish(task.id, task.embedding_model_id, status, error, done)
    metrics.add_metric(name=f"{task.kind.value.capitalize()}TaskAbandoned", unit=MetricUnit.Count, value=1)
    return finished
