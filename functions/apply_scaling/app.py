"""Workflow step: copy blue's autoscaling (or set the request's) onto green's variant before the switch."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.capacity import apply_scaling
from inference_deploy.models.workflow import ApplyScalingEvent, ScalingApplied
from inference_deploy.step_handler import workflow_step


@workflow_step(ApplyScalingEvent, honours_cancel=True)
def lambda_handler(event: ApplyScalingEvent) -> ScalingApplied:
    return apply_scaling(event, dependencies.autoscaling())
