"""Workflow step: after a failure before the switch, delete green (unless it is serving after all)."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import discard_green
from inference_deploy.models.workflow import DiscardedGreen, DiscardGreenEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(DiscardGreenEvent)
def lambda_handler(event: DiscardGreenEvent) -> DiscardedGreen:
    return discard_green(event, dependencies.sagemaker(), dependencies.model_store())
