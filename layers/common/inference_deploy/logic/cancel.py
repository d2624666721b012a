"""Cancelling a task: record who and why, stop its execution, undo what it did, end it `cancelled`.

The cancel mark is written in one transaction with a check of the serving record, and the workflow's
commits past which a task cannot be undone (the switch without a bake, the end of a bake, a delete's
first endpoint delete) check the mark in theirs: of a cancel and such a commit, exactly one lands.
The undo is the same compensation an aborted execution gets (logic/abandonment.py), so if this
function dies after stopping the execution, the ABORTED event's handler finishes the job, `cancelled`.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.alarms import Alarms
from inference_deploy.adapters.executions import Executions
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import CANCELLED_BY, TaskStore
from inference_deploy.errors import TaskNotCancellable, TaskNotFound
from inference_deploy.logic.abandonment import compensate
from inference_deploy.models.common import format_timestamp, utc_now
from inference_deploy.models.task import Task, TaskKind, TaskStatus
from inference_deploy.observability import logger, metrics


def cancel_task(
    kind: TaskKind,
    task_id: str,
    *,
    cancelled_by: str,
    reason: str | None,
    store: TaskStore,
    models: ModelStore,
    sagemaker: SageMaker,
    alarms: Alarms,
    executions: Executions,
    authorize: Callable[[Task], object] = lambda task: None,
) -> Task:
    """The task, ended `cancelled`; a repeat answers the same task. TaskNotCancellable (409) once it
    ended otherwise or is past undoing. `authorize` sees the task once it is known to be of this kind,
    before anything is written, and raises to refuse."""
    logger.append_keys(task_id=task_id)
    task = store.get(task_id)
    if task.kind is not kind:
        raise TaskNotFound(f"no {kind.value} task {task_id}")
    authorize(task)
    if task.status is TaskStatus.CANCELLED:
        return task
    if task.status.is_terminal:
        raise TaskNotCancellable(f"task {task_id} is {task.status.value}", task.status.value)
    if CANCELLED_BY not in task.metadata:
        cancellation = {CANCELLED_BY: cancelled_by, "cancel_requested_at": format_timestamp(utc_now())}
        if reason:
            cancellation["cancel_reason"] = reason
        store.request_cancel(task, cancellation)
        task = store.get(task_id)
    stopped = executions.stop(task.execution_arn or "", f"cancelled by {cancelled_by}")
    logger.info("cancelling", extra={"execution_stopped": stopped})
    done = compensate(task, models, sagemaker, alarms)
    finished = store.finish(task.id, task.embedding_model_id, TaskStatus.CANCELLED, None, done)
    if finished.status is not TaskStatus.CANCELLED:  # its workflow finished it first
        raise TaskNotCancellable(f"task {task_id} is {finished.status.value}", finished.status.value)
    metrics.add_metric(name=f"{kind.value.capitalize()}TaskCancelled", unit=MetricUnit.Count, value=1)
    return finished
