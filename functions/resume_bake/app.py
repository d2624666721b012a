"""EventBridge: one of a bake's alarms changed state; if it went to ALARM, end that deploy's bake."""

from __future__ import annotations

from typing import Any

from inference_deploy import dependencies
from inference_deploy.logic.bake_wait import resume_bake
from inference_deploy.models.workflow import AlarmStateChange
from inference_deploy.step_handler import workflow_step


@workflow_step(AlarmStateChange)
def lambda_handler(event: AlarmStateChange) -> dict[str, Any]:
    result = resume_bake(event, dependencies.task_store(), dependencies.alarms(), dependencies.task_tokens())
    return {
        "alarm_name": event.detail.alarmName,
        "baking": result is not None,
        "tripped": result.tripped.name if result is not None and result.tripped is not None else None,
    }
