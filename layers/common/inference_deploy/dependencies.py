"""The adapters every handler uses, built once per process on first use (never at import)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from inference_deploy.adapters import aws
from inference_deploy.adapters.executions import Executions
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.models.settings import (
    CreateTaskSettings,
    IdempotencySettings,
    StoreSettings,
    load_settings,
)
from inference_deploy.models.task import TaskKind

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer


@cache
def task_store() -> TaskStore:
    settings = load_settings(StoreSettings)
    return TaskStore(settings.tasks_table_name, settings.models_table_name)


@cache
def model_store() -> ModelStore:
    return ModelStore(load_settings(StoreSettings).models_table_name)


@cache
def sagemaker() -> SageMaker:
    return SageMaker()


@cache
def executions() -> Executions:
    settings = load_settings(CreateTaskSettings)
    return Executions(
        {TaskKind.DEPLOY: settings.deploy_state_machine_arn, TaskKind.DELETE: settings.delete_state_machine_arn}
    )


@cache
def idempotency_store() -> DynamoDBPersistenceLayer:
    """Imported here, on first use: only the create function needs it (the read path stays lighter)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415

    return DynamoDBPersistenceLayer(
        table_name=load_settings(IdempotencySettings).idempotency_table_name, boto3_client=aws.dynamodb()
    )


def reset() -> None:
    """Forget every adapter, setting and client (tests move between emulated accounts)."""
    for factory in (task_store, model_store, sagemaker, executions, idempotency_store):
        factory.cache_clear()
    load_settings.cache_clear()
    aws.reset_clients()
