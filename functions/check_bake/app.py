"""Workflow step: during the bake, look at the watched alarms; end the bake once its time is up."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import check_bake
from inference_deploy.models.workflow import BakeCheck, CheckBakeEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(CheckBakeEvent, honours_cancel=True)
def lambda_handler(event: CheckBakeEvent) -> BakeCheck:
    return check_bake(event, dependencies.alarms(), dependencies.model_store(), dependencies.task_store())
