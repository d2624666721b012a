"""Workflow step: write the task's terminal status, its error when it failed, and what the steps did."""

from __future__ import annotations

from typing import Any

from inference_deploy import dependencies
from inference_deploy.logic.lifecycle import finish_task
from inference_deploy.models.workflow import FinishTaskEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(FinishTaskEvent)
def lambda_handler(event: FinishTaskEvent) -> dict[str, Any]:
    task = finish_task(event, dependencies.task_store(), dependencies.alarms())
    return {"status": task.status.value, "error": task.error.model_dump() if task.error else None}
