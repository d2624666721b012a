"""Workflow step (AwaitGreen, `.waitForTaskToken`): store the wait's token for green's state change
event, then look at green once; InService, Failed or past the deadline completes the wait at once."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_wait import await_green
from inference_deploy.models.workflow import AwaitGreenEvent, GreenWait
from inference_deploy.step_handler import workflow_step


@workflow_step(AwaitGreenEvent, honours_cancel=True)
def lambda_handler(event: AwaitGreenEvent) -> GreenWait:
    return await_green(event, dependencies.task_store(), dependencies.sagemaker(), dependencies.task_tokens())
