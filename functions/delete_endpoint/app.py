"""Workflow step: delete an endpoint and its config (retire blue, or discard green)."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.endpoints import delete_endpoint
from inference_deploy.models.workflow import DeletedEndpoint, DeleteEndpointEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(DeleteEndpointEvent)
def lambda_handler(event: DeleteEndpointEvent) -> DeletedEndpoint:
    return delete_endpoint(event.endpoint, dependencies.sagemaker())
