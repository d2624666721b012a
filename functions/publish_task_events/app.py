"""Tasks table stream -> EventBridge: a Status Change or Step Change event per change of a task."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from inference_deploy import dependencies
from inference_deploy.logic.task_events import publish
from inference_deploy.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return publish(event.get("Records", []), dependencies.event_bus())
