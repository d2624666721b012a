"""EventBridge: an execution ended FAILED, TIMED_OUT or ABORTED; hand its task to a repair if nothing finished it."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.lifecycle import finish_abandoned_task
from inference_deploy.models.workflow import ExecutionStatusChange
from inference_deploy.step_handler import workflow_step


@workflow_step(ExecutionStatusChange)
def lambda_handler(event: ExecutionStatusChange) -> dict[str, str]:
    task = finish_abandoned_task(
        event.detail, dependencies.task_store(), dependencies.model_store(), dependencies.repairs()
    )
    return {"task_id": event.detail.name, "status": task.status.value if task else "unknown"}
