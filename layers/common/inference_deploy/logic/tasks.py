"""Creating and reading tasks."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.executions import Executions
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import DomainError, ModelNotServed, TaskNotFound
from inference_deploy.ids import new_task_id
from inference_deploy.models.requests import DeleteRequest, DeployRequest
from inference_deploy.models.settings import CreateTaskSettings
from inference_deploy.models.task import Task, TaskKind
from inference_deploy.models.workflow import DeploymentPlan, ExecutionInput, Timing
from inference_deploy.naming import green_endpoint
from inference_deploy.observability import logger, metrics


def _plan(request: DeployRequest, task_id: str, settings: CreateTaskSettings) -> DeploymentPlan:
    return DeploymentPlan(
        instance_type=request.instance_type or settings.default_instance_type,
        initial_instance_count=request.initial_instance_count or settings.default_instance_count,
        allow_dimension_change=request.allow_dimension_change,
        deployment_target=settings.deployment_target,
        green=green_endpoint(request.embedding_model_id, task_id),
    )


def _deploy_metadata(plan: DeploymentPlan, initiated_by: str) -> dict[str, Any]:
    return {
        "deployment_target": plan.deployment_target,
        "initiated_by": initiated_by,
        "instance_type": plan.instance_type,
        "initial_instance_count": plan.initial_instance_count,
        "allow_dimension_change": plan.allow_dimension_change,
        "endpoint_name": plan.green.endpoint_name,
        "endpoint_config_name": plan.green.endpoint_config_name,
    }


def _delete_metadata(request: DeleteRequest, initiated_by: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"deletion_type": request.deletion_type, "initiated_by": initiated_by}
    if request.reason is not None:
        metadata["reason"] = request.reason
    return metadata


def create_task(
    kind: TaskKind,
    request: DeployRequest | DeleteRequest,
    *,
    initiated_by: str,
    settings: CreateTaskSettings,
    store: TaskStore,
    models: ModelStore,
    executions: Executions,
) -> Task:
    """Record a pending task, then start its execution; if the start fails, take the task back."""
    task_id = new_task_id(kind)
    logger.append_keys(task_id=task_id, embedding_model_id=request.embedding_model_id)
    if kind is TaskKind.DELETE and models.serving(request.embedding_model_id) is None:
        raise ModelNotServed(f"model {request.embedding_model_id} is not served: there is nothing to delete")
    plan: DeploymentPlan | None = None
    if isinstance(request, DeployRequest):
        plan = _plan(request, task_id, settings)
        metadata = _deploy_metadata(plan, initiated_by)
    else:
        metadata = _delete_metadata(request, initiated_by)
    task = Task.new(task_id, request.embedding_model_id, metadata, executions.arn_for(kind, task_id))
    store.put_new(task)
    execution_input = ExecutionInput(
        task_id=task_id,
        embedding_model_id=task.embedding_model_id,
        kind=kind,
        timing=Timing(
            poll_seconds=settings.green_poll_seconds,
            green_timeout_seconds=settings.green_timeout_seconds,
            drain_seconds=settings.drain_seconds,
            removal_timeout_seconds=settings.removal_timeout_seconds,
        ),
        deployment=plan,
    )
    try:
        executions.start(kind, task_id, execution_input)
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
