"""Workflow step: blue and green embed the same probe texts; are green's vectors in blue's space?"""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.embedding_guard import check_embedding_compatibility
from inference_deploy.models.settings import CompatibilitySettings, load_settings
from inference_deploy.models.workflow import CompatibilityCheck, CompatibilityEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(CompatibilityEvent, honours_cancel=True)
def lambda_handler(event: CompatibilityEvent) -> CompatibilityCheck:
    settings = load_settings(CompatibilitySettings)
    return check_embedding_compatibility(
        event, dependencies.sagemaker(), dependencies.task_store(), batch_size=settings.embedding_probe_batch_size
    )
