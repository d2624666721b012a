"""The adapters every handler uses, built once per process on first use (never at import).

Each adapter module is imported by its factory, on first use, so a function imports only the adapters
it uses (and what they import: the alarms adapter alone brings in the workflow models), which keeps a
read's cold start lighter."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from inference_deploy.adapters import aws
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.models.settings import (
    EventSettings,
    IdempotencySettings,
    RepairStartSettings,
    StoreSettings,
    WorkflowSettings,
    clear_settings_cache,
    load_settings,
)
from inference_deploy.models.task import TaskKind

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from inference_deploy.adapters.alarms import Alarms
    from inference_deploy.adapters.autoscaling import Autoscaling
    from inference_deploy.adapters.event_bus import EventBus
    from inference_deploy.adapters.executions import Executions, Repairs, TaskTokens
    from inference_deploy.adapters.iam import PrincipalDirectory
    from inference_deploy.adapters.sagemaker import SageMaker


# Each factory reads its settings on every call and caches the adapter per settings: cheap, and a
# process hosting several functions (the local stack) never hands one function another's resources.


def task_store() -> TaskStore:
    return _task_store(load_settings(StoreSettings))


@cache
def _task_store(settings: StoreSettings) -> TaskStore:
    return TaskStore(settings.tasks_table_name, _model_store(settings))


def model_store() -> ModelStore:
    return _model_store(load_settings(StoreSettings))


@cache
def _model_store(settings: StoreSettings) -> ModelStore:
    return ModelStore(settings.models_table_name)


@cache
def sagemaker() -> SageMaker:
    from inference_deploy.adapters.sagemaker import SageMaker  # noqa: PLC0415 - on first use

    return SageMaker()


@cache
def autoscaling() -> Autoscaling:
    from inference_deploy.adapters.autoscaling import Autoscaling  # noqa: PLC0415 - on first use

    return Autoscaling()


@cache
def principal_directory() -> PrincipalDirectory:
    """One per process: its tag cache is what makes a warm container ask IAM once a minute per caller."""
    from inference_deploy.adapters.iam import PrincipalDirectory  # noqa: PLC0415 - on first use

    return PrincipalDirectory()


@cache
def alarms() -> Alarms:
    from inference_deploy.adapters.alarms import Alarms  # noqa: PLC0415 - on first use

    return Alarms()


def executions() -> Executions:
    return _executions(load_settings(WorkflowSettings))


@cache
def _executions(settings: WorkflowSettings) -> Executions:
    from inference_deploy.adapters.executions import Executions  # noqa: PLC0415 - on first use

    return Executions(
        {TaskKind.DEPLOY: settings.deploy_state_machine_arn, TaskKind.DELETE: settings.delete_state_machine_arn}
    )


def event_bus() -> EventBus:
    return _event_bus(load_settings(EventSettings))


@cache
def _event_bus(settings: EventSettings) -> EventBus:
    from inference_deploy.adapters.event_bus import EventBus  # noqa: PLC0415 - on first use

    return EventBus(settings.event_bus_name)


def repairs() -> Repairs:
    return _repairs(load_settings(RepairStartSettings))


@cache
def _repairs(settings: RepairStartSettings) -> Repairs:
    from inference_deploy.adapters.executions import Repairs  # noqa: PLC0415 - on first use

    return Repairs(settings.repair_state_machine_arn)


@cache
def task_tokens() -> TaskTokens:
    from inference_deploy.adapters.executions import TaskTokens  # noqa: PLC0415 - on first use

    return TaskTokens()


def idempotency_store() -> DynamoDBPersistenceLayer:
    return _idempotency_store(load_settings(IdempotencySettings))


@cache
def _idempotency_store(settings: IdempotencySettings) -> DynamoDBPersistenceLayer:
    """Imported here, on first use: only the create function needs it (the read path stays lighter)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415

    return DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name, boto3_client=aws.dynamodb())


def reset() -> None:
    """Forget every adapter, setting and client (tests move between emulated accounts)."""
    for factory in (
        _task_store,
        _model_store,
        sagemaker,
        principal_directory,
        alarms,
        autoscaling,
        _executions,
        _repairs,
        task_tokens,
        _idempotency_store,
        _event_bus,
    ):
        factory.cache_clear()
    clear_settings_cache()
    aws.reset_clients()
