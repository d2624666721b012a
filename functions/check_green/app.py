"""Workflow step: is green InService yet? Failed, vanished and past-deadline are errors."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import check_green
from inference_deploy.models.workflow import CheckGreenEvent, GreenStatus
from inference_deploy.step_handler import workflow_step


@workflow_step(CheckGreenEvent)
def lambda_handler(event: CheckGreenEvent) -> GreenStatus:
    return check_green(event, dependencies.sagemaker())
