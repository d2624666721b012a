"""Workflow step: the bake. AwaitBake (`.waitForTaskToken`, with `task_token`) stores the wait's token for
the bake's alarm event and looks at the watched alarms once; CheckBake (after the wait timed out at the
bake's end) looks again and ends the bake once its time is up."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.bake_wait import await_bake
from inference_deploy.logic.green_deploy import check_bake
from inference_deploy.models.workflow import BakeCheck, CheckBakeEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(CheckBakeEvent, honours_cancel=True)
def lambda_handler(event: CheckBakeEvent) -> BakeCheck:
    if event.task_token is not None:
        return await_bake(
            event, event.task_token, dependencies.task_store(), dependencies.alarms(), dependencies.task_tokens()
        )
    return check_bake(event, dependencies.alarms(), dependencies.model_store(), dependencies.task_store())
