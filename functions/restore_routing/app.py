"""Workflow step: after a failed removal, route the model back to its endpoint if it still serves."""

from __future__ import annotations

from typing import Any

from inference_deploy import dependencies
from inference_deploy.logic.removal import restore_routing
from inference_deploy.models.workflow import RestoreRoutingEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(RestoreRoutingEvent)
def lambda_handler(event: RestoreRoutingEvent) -> dict[str, Any]:
    return {"restored": restore_routing(event.record, dependencies.model_store(), dependencies.sagemaker())}
