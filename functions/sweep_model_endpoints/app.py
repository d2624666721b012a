"""Workflow step: delete every endpoint and config this stack tagged with the model; report what is left."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.removal import sweep_model_endpoints
from inference_deploy.models.settings import SweepSettings, load_settings
from inference_deploy.models.workflow import SweepEvent, SweepResult
from inference_deploy.step_handler import workflow_step


@workflow_step(SweepEvent)
def lambda_handler(event: SweepEvent) -> SweepResult:
    settings = load_settings(SweepSettings)
    return sweep_model_endpoints(
        event, dependencies.sagemaker(), dependencies.task_store(), deployment_target=settings.deployment_target
    )
