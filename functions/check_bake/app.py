"""Workflow step: the bake. AwaitBake (`.waitForTaskToken`) stores the wait's token for the watched alarms'
state change events and looks at those alarms once; the wait's timeout is the bake's end."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.bake_wait import await_bake
from inference_deploy.models.workflow import BakeCheck, CheckBakeEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(CheckBakeEvent, honours_cancel=True)
def lambda_handler(event: CheckBakeEvent) -> BakeCheck:
    return await_bake(
        event, event.task_token, dependencies.task_store(), dependencies.alarms(), dependencies.task_tokens()
    )
