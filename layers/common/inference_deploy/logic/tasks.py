"""Creating and reading tasks."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.executions import Executions
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import DomainError, TaskNotFound
from inference_deploy.ids import new_task_id
from inference_deploy.models.requests import DeleteRequest, DeployRequest
from inference_deploy.models.task import Task, TaskKind
from inference_deploy.models.workflow import ExecutionInput
from inference_deploy.observability import logger, metrics


def task_metadata(request: DeployRequest | DeleteRequest, initiated_by: str, deployment_target: str) -> dict[str, Any]:
    if isinstance(request, DeployRequest):
        return {"deployment_target": deployment_target, "initiated_by": initiated_by}
    metadata: dict[str, Any] = {"deletion_type": request.deletion_type, "initiated_by": initiated_by}
    if request.reason is not None:
        metadata["reason"] = request.reason
    return metadata


def create_task(
    kind: TaskKind,
    request: DeployRequest | DeleteRequest,
    *,
    initiated_by: str,
    deployment_target: str,
    store: TaskStore,
    executions: Executions,
) -> Task:
    """Record a pending task, then start its execution; if the start fails, take the task back."""
    task_id = new_task_id(kind)
    logger.append_keys(task_id=task_id, embedding_model_id=request.embedding_model_id)
    task = Task.new(
        task_id,
        request.embedding_model_id,
        task_metadata(request, initiated_by, deployment_target),
        executions.arn_for(kind, task_id),
    )
    store.put_new(task)
    try:
        executions.start(
            kind,
            task_id,
            ExecutionInput(task_id=task_id, embedding_model_id=task.embedding_model_id, kind=kind),
        )
    except DomainError:
        try:
            store.discard_pending(task_id)
        except DomainError:
            logger.exception("could not discard a task whose execution did not start")
        metrics.add_metric(name="ExecutionStartFailed", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=f"{kind.value.capitalize()}TaskCreated", unit=MetricUnit.Count, value=1)
    logger.info("task created", extra={"kind": kind.value})
    return task


def get_task(kind: TaskKind, task_id: str, store: TaskStore) -> Task:
    """A task by id, only under its own kind's route: a delete task is not found under /deploy/."""
    if not task_id.startswith(f"{kind.value}-"):
        raise TaskNotFound(f"no {kind.value} task {task_id}")
    logger.append_keys(task_id=task_id)
    return store.get(task_id)


def latest_task(kind: TaskKind, embedding_model_id: str, store: TaskStore) -> Task:
    logger.append_keys(embedding_model_id=embedding_model_id)
    return store.latest_for_model(embedding_model_id, kind)
