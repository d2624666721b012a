"""EventBridge schedule: hand tasks whose execution never started (or ended unnoticed) to their repair."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from inference_deploy import dependencies
from inference_deploy.adapters.executions import Executions
from inference_deploy.logic.stalled import repair_stalled_tasks
from inference_deploy.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    repaired = repair_stalled_tasks(
        dependencies.task_store(), dependencies.model_store(), Executions({}), dependencies.repairs()
    )
    return {"repairing": repaired}
