"""Workflow step: after a failed removal, route the model back to its endpoint if it still serves."""

from __future__ import annotations

from typing import Any

from inference_deploy import dependencies
from inference_deploy.logic.removal import restore_routing, restore_unrouted
from inference_deploy.models.workflow import RestoreRoutingEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(RestoreRoutingEvent)
def lambda_handler(event: RestoreRoutingEvent) -> dict[str, Any]:
    if event.record is None and event.embedding_model_id is not None:
        return restore_unrouted(event.embedding_model_id, dependencies.model_store()).model_dump(mode="json")
    return restore_routing(event.record, dependencies.model_store(), dependencies.sagemaker()).model_dump(mode="json")
