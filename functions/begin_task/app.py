"""Workflow step: mark the task in_progress."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.logic.lifecycle import begin_task
from inference_deploy.models.settings import StoreSettings, load_settings
from inference_deploy.models.workflow import TaskStepEvent
from inference_deploy.observability import logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=TaskStepEvent)
def lambda_handler(event: TaskStepEvent, context: LambdaContext) -> dict[str, Any]:
    task = begin_task(event.task_id, TaskStore(load_settings(StoreSettings).tasks_table_name))
    return {"status": task.status.value}
