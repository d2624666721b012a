"""Settings read from environment variables, one small model per concern, validated at first use."""

from __future__ import annotations

import os
from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inference_deploy.errors import ConfigurationError


class _EnvSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class StoreSettings(_EnvSettings):
    tasks_table_name: str = Field(min_length=3)
    models_table_name: str = Field(min_length=3)


class IdempotencySettings(_EnvSettings):
    idempotency_table_name: str = Field(min_length=3)


class CreateTaskSettings(_EnvSettings):
    deployment_target: str = Field(min_length=1)
    deploy_state_machine_arn: str = Field(pattern=r"^arn:aws[a-z-]*:states:")
    delete_state_machine_arn: str = Field(pattern=r"^arn:aws[a-z-]*:states:")
    default_instance_type: str = Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    default_instance_count: int = Field(ge=1)
    green_poll_seconds: int = Field(ge=0)
    green_timeout_seconds: int = Field(ge=0)
    green_event_wait_seconds: int = Field(ge=1)
    drain_seconds: int = Field(ge=0)
    removal_timeout_seconds: int = Field(ge=0)


class ReconcilerSettings(_EnvSettings):
    deployment_target: str = Field(min_length=1)
    reconcile_grace_seconds: int = Field(ge=0)
    reconcile_dry_run: bool


SettingsT = TypeVar("SettingsT", bound=_EnvSettings)


def load_settings[SettingsT: _EnvSettings](model: type[SettingsT]) -> SettingsT:
    """Build `model` from the environment (field `x_y` reads `X_Y`). A missing or bad value is a
    ConfigurationError naming the variable, so a broken deployment fails loudly on its first request.
    The environment is read on every call (a few lookups) and only the validation is cached, so a
    process hosting several functions (the local stack) never hands one function another's settings."""
    values = tuple((name, os.environ[name.upper()]) for name in model.model_fields if name.upper() in os.environ)
    settings: SettingsT = _validated(model, values)
    return settings


@cache
def _validated[SettingsT: _EnvSettings](model: type[SettingsT], values: tuple[tuple[str, str], ...]) -> SettingsT:
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(f"{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid configuration for {model.__name__}: {problems}") from None


def clear_settings_cache() -> None:
    _validated.cache_clear()
