"""Workflow step: when the plan bakes, create the bake's alarms; then point the model's serving record at
green (one conditional write, unless cancelled)."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import switch_traffic
from inference_deploy.models.workflow import SwitchedTraffic, SwitchTrafficEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(SwitchTrafficEvent, honours_cancel=True)
def lambda_handler(event: SwitchTrafficEvent) -> SwitchedTraffic:
    return switch_traffic(event, dependencies.task_store(), dependencies.alarms())
