"""Workflow step: an alarm tripped during the bake; traffic back to blue, green deleted, the task fails."""

from __future__ import annotations

from typing import Any

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import roll_back
from inference_deploy.models.workflow import RollBackEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(RollBackEvent)
def lambda_handler(event: RollBackEvent) -> dict[str, Any]:
    # Ends by raising RolledBack or AlarmDuringBake: the workflow's Catch fails the task with it.
    roll_back(event, dependencies.sagemaker(), dependencies.model_store())
