"""Repair step: end the repaired task with what is true now, and free its model's slot."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.repair import end_repaired_task
from inference_deploy.models.repair import EndedTask, EndRepairEvent
from inference_deploy.step_handler import workflow_step


@workflow_step(EndRepairEvent)
def lambda_handler(event: EndRepairEvent) -> EndedTask:
    task = end_repaired_task(event, dependencies.task_store(), dependencies.model_store())
    return EndedTask(status=task.status.value, error=task.error)
