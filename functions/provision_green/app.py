"""Workflow step: create green's endpoint config and endpoint beside blue."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import provision_green
from inference_deploy.models.workflow import ProvisionedGreen, ProvisionGreenEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(ProvisionGreenEvent, honours_cancel=True)
def lambda_handler(event: ProvisionGreenEvent) -> ProvisionedGreen:
    return provision_green(event, dependencies.sagemaker(), dependencies.task_store())
