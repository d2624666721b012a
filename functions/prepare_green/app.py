"""Workflow step: green is InService; give it blue's scaling, probe it, then check that its vectors are
in blue's space, before any traffic moves."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.prepare_green import prepare_green
from inference_deploy.models.settings import CompatibilitySettings, load_settings
from inference_deploy.models.workflow import PreparedGreen, PrepareGreenEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(PrepareGreenEvent, honours_cancel=True)
def lambda_handler(event: PrepareGreenEvent) -> PreparedGreen:
    settings = load_settings(CompatibilitySettings)
    return prepare_green(
        event,
        dependencies.autoscaling(),
        dependencies.sagemaker(),
        dependencies.task_store(),
        batch_size=settings.embedding_probe_batch_size,
    )
