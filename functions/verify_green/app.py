"""Workflow step: probe green, then check that its vectors are in blue's space, before any traffic moves."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.embedding_guard import verify_green
from inference_deploy.models.settings import CompatibilitySettings, load_settings
from inference_deploy.models.workflow import VerifiedGreen, VerifyGreenEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(VerifyGreenEvent, honours_cancel=True)
def lambda_handler(event: VerifyGreenEvent) -> VerifiedGreen:
    settings = load_settings(CompatibilitySettings)
    return verify_green(
        event, dependencies.sagemaker(), dependencies.task_store(), batch_size=settings.embedding_probe_batch_size
    )
