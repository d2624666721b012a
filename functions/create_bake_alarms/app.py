"""Workflow step: before the switch, create the bake's alarms on green's own metrics."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import create_bake_alarms
from inference_deploy.models.workflow import BakeWatch, CreateBakeAlarmsEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(CreateBakeAlarmsEvent, honours_cancel=True)
def lambda_handler(event: CreateBakeAlarmsEvent) -> BakeWatch:
    return create_bake_alarms(event, dependencies.alarms())
