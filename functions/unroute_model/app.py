"""Workflow step: remove the model's serving record so resolvers stop handing it out."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.removal import unroute_model
from inference_deploy.models.workflow import UnroutedModel, UnrouteEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(UnrouteEvent, honours_cancel=True)
def lambda_handler(event: UnrouteEvent) -> UnroutedModel:
    return unroute_model(
        event.embedding_model_id,
        dependencies.model_store(),
        task_id=event.task_id,
        store=dependencies.task_store(),
    )
