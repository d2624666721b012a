"""Workflow step: mark the task in_progress, resolve the SageMaker Model and the serving record (blue), then
create green's endpoint config and endpoint beside blue."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import begin_and_provision_green
from inference_deploy.models.workflow import ProvisionedGreen, ProvisionGreenEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(ProvisionGreenEvent, honours_cancel=True)
def lambda_handler(event: ProvisionGreenEvent) -> ProvisionedGreen:
    return begin_and_provision_green(
        event, dependencies.sagemaker(), dependencies.task_store(), dependencies.model_store()
    )
