"""Workflow step: end a bake by going back to blue (an alarm, a cancel, alarms that cannot be checked)."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import roll_back
from inference_deploy.models.workflow import RollBackEvent, RolledBackTraffic
from inference_deploy.step_handler import workflow_step


@workflow_step(RollBackEvent)
def lambda_handler(event: RollBackEvent) -> RolledBackTraffic:
    # Answers only for a cancel; otherwise raises (RolledBack...), which the workflow's Catch fails the task with.
    return roll_back(event, dependencies.sagemaker(), dependencies.model_store())
