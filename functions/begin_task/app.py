"""Workflow step: mark the task in_progress."""

from __future__ import annotations

from typing import Any

from inference_deploy import dependencies
from inference_deploy.logic.lifecycle import begin_task
from inference_deploy.models.workflow import TaskStepEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(TaskStepEvent, honours_cancel=True)
def lambda_handler(event: TaskStepEvent) -> dict[str, Any]:
    return {"status": begin_task(event.task_id, dependencies.task_store()).status.value}
