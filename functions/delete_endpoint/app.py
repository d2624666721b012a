"""Workflow step: retire blue (after a bake, judge green by its metrics and end the bake first), deleting
its endpoint and config; then end the task, succeeded (the deploy's last step)."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import retire_blue
from inference_deploy.logic.lifecycle import finish_retired
from inference_deploy.models.workflow import RetireBlueEvent, RetiredBlue
from inference_deploy.step_handler import workflow_step


@workflow_step(RetireBlueEvent, honours_cancel=True)  # a cancel recorded before the bake's verdict wins
def lambda_handler(event: RetireBlueEvent) -> RetiredBlue:
    store, alarms = dependencies.task_store(), dependencies.alarms()
    retired = retire_blue(event, dependencies.sagemaker(), store, dependencies.model_store(), alarms)
    finish_retired(event, retired, store, alarms)
    return retired
