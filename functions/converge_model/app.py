"""Repair step: one round converging the model's endpoints, bake and routing to its serving record."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.repair import converge_model
from inference_deploy.models.repair import ConvergeEvent, RepairRound
from inference_deploy.models.settings import RepairSettings, load_settings
from inference_deploy.step_handler import workflow_step


@workflow_step(ConvergeEvent)
def lambda_handler(event: ConvergeEvent) -> RepairRound:
    return converge_model(
        event,
        dependencies.task_store(),
        dependencies.model_store(),
        dependencies.sagemaker(),
        dependencies.alarms(),
        settings=load_settings(RepairSettings),
    )
