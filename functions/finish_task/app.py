"""Workflow step: write the task's terminal status, and its error when it failed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.logic.lifecycle import finish_task
from inference_deploy.models.settings import StoreSettings, load_settings
from inference_deploy.models.workflow import FinishTaskEvent
from inference_deploy.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=FinishTaskEvent)
def lambda_handler(event: FinishTaskEvent, context: LambdaContext) -> dict[str, Any]:
    task = finish_task(
        event.task_id, event.status, event.failure, TaskStore(load_settings(StoreSettings).tasks_table_name)
    )
    return {"status": task.status.value, "error": task.error.model_dump() if task.error else None}
