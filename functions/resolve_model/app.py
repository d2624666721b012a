"""Workflow step: mark the task in_progress, then the SageMaker Model must exist; read the serving record (blue)."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import resolve_model
from inference_deploy.logic.lifecycle import begin_task
from inference_deploy.models.workflow import ResolvedModel, ResolveModelEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(ResolveModelEvent, honours_cancel=True)
def lambda_handler(event: ResolveModelEvent) -> ResolvedModel:
    begin_task(event.task_id, dependencies.task_store())
    return resolve_model(event.embedding_model_id, dependencies.sagemaker(), dependencies.model_store())
