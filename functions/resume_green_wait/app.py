"""EventBridge: a SageMaker endpoint changed state; if a deploy task waits for it, complete the wait."""

from __future__ import annotations

from typing import Any

from inference_deploy import dependencies
from inference_deploy.logic.green_wait import resume_green_wait
from inference_deploy.models.workflow import EndpointStateChange
from inference_deploy.step_handler import workflow_step


@workflow_step(EndpointStateChange)
def lambda_handler(event: EndpointStateChange) -> dict[str, Any]:
    result = resume_green_wait(event, dependencies.task_store(), dependencies.sagemaker(), dependencies.task_tokens())
    return {
        "endpoint_name": event.detail.EndpointName,
        "waiting": result is not None,
        "settled": bool(result and result.settled),
    }
