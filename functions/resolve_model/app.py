"""Workflow step: the SageMaker Model must exist; read the serving record (blue)."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import resolve_model
from inference_deploy.models.workflow import ModelStepEvent, ResolvedModel
from inference_deploy.step_handler import workflow_step


@workflow_step(ModelStepEvent, honours_cancel=True)
def lambda_handler(event: ModelStepEvent) -> ResolvedModel:
    return resolve_model(event.embedding_model_id, dependencies.sagemaker(), dependencies.model_store())
