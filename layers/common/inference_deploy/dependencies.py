"""The adapters every handler uses, built once per process on first use (never at import)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from inference_deploy.adapters import aws
from inference_deploy.adapters.executions import Executions
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.models.settings import (
    CreateTaskSettings,
    StoreSettings,
    load_settings,
)
from inference_deploy.models.task import TaskKind


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


_reset_hooks: list[Callable[[], None]] = []


def on_reset(hook: Callable[[], None]) -> None:
    """Register a cache that reset() must clear too (kept where it is used, so functions that do not
    need it do not import it)."""
    _reset_hooks.append(hook)


def reset() -> None:
    """Forget every adapter, setting and client (tests move between emulated accounts)."""
    for factory in (task_store, model_store, sagemaker, executions):
        factory.cache_clear()
    for hook in _reset_hooks:
        hook()
    load_settings.cache_clear()
    aws.reset_clients()
