"""Settings read from environment variables, one small model per concern, validated at first use."""

from functools import cache
from typing import Annotated, Any, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from inference_deploy.environment import environment
from inference_deploy.errors import ConfigurationError


class _EnvSettings(BaseModel):
    # defer_build: each model is built when first used, so a cold start builds only those its function uses.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class StoreSettings(_EnvSettings):
    tasks_table_name: str = Field(min_length=3)
    models_table_name: str = Field(min_length=3)


class IdempotencySettings(_EnvSettings):
    idempotency_table_name: str = Field(min_length=3)


def _comma_separated(value: Any) -> Any:
    """CloudFormation joins a CommaDelimitedList with commas; an empty list arrives as ""."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


CommaSeparated = Annotated[tuple[str, ...], BeforeValidator(_comma_separated)]


class AuthorizationSettings(_EnvSettings):
    """Who may deploy or delete a model (logic/authorization.py)."""

    owner_tag_key: str = Field(min_length=1, max_length=128)
    admin_principal_arn_patterns: CommaSeparated = ()


class WorkflowSettings(_EnvSettings):
    """The state machines a task's execution runs on."""

    deploy_state_machine_arn: str = Field(pattern=r"^arn:aws[a-z-]*:states:")
    delete_state_machine_arn: str = Field(pattern=r"^arn:aws[a-z-]*:states:")


class CreateTaskSettings(_EnvSettings):
    """What a new task is planned with: the stack's defaults, limits and timings."""

    deployment_target: str = Field(min_length=1)
    default_instance_type: str = Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    default_instance_count: int = Field(ge=1)
    green_poll_seconds: int = Field(ge=0)
    green_timeout_seconds: int = Field(ge=0)
    green_event_wait_seconds: int = Field(ge=1)
    drain_seconds: int = Field(ge=0)
    removal_timeout_seconds: int = Field(ge=0)
    bake_seconds: int = Field(ge=0)
    bake_error_threshold: int = Field(ge=1)
    bake_latency_threshold_ms: int = Field(ge=1)
    allowed_instance_types: CommaSeparated = Field(min_length=1)
    max_instance_count: int = Field(ge=1)
    embedding_min_mean_cosine: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> Self:
        # The template's Rules say the same; a request naming nothing must never be refused for the stack's choice.
        if self.default_instance_type not in self.allowed_instance_types:
            raise ValueError("DEFAULT_INSTANCE_TYPE must be one of ALLOWED_INSTANCE_TYPES")
        if self.default_instance_count > self.max_instance_count:
            raise ValueError("DEFAULT_INSTANCE_COUNT must be at most MAX_INSTANCE_COUNT")
        return self


class CompatibilitySettings(_EnvSettings):
    """The embedding-compatibility guard: texts per InvokeEndpoint (the container's batch limit; Hugging
    Face TEI takes 32 by default)."""

    embedding_probe_batch_size: int = Field(ge=1, le=128)


class CallerAlarmSettings(_EnvSettings):
    """Which alarms a deploy's rollback_alarms may name: the stack's CallerAlarmPrefix (its IAM scope)."""

    caller_alarm_prefix: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:/-]+$")


class EventSettings(_EnvSettings):
    event_bus_name: str = Field(min_length=1)


class SweepSettings(_EnvSettings):
    """The delete sweep: the stack's own deployment target, from its environment rather than the event,
    so a delete can never be pointed at another stack's endpoints by what the execution carries."""

    deployment_target: str = Field(min_length=1)


class ReconcilerSettings(_EnvSettings):
    deployment_target: str = Field(min_length=1)
    reconcile_grace_seconds: int = Field(ge=0)
    reconcile_dry_run: bool


class RepairStartSettings(_EnvSettings):
    """The functions that start repairs (the abandonment handler, the unstarted-task sweep)."""

    repair_state_machine_arn: str = Field(pattern=r"^arn:aws[a-z-]*:states:")


class RepairSettings(_EnvSettings):
    """ConvergeModel: whose endpoints it may touch, how often it looks again, and for how long."""

    deployment_target: str = Field(min_length=1)
    green_poll_seconds: int = Field(ge=0)
    green_timeout_seconds: int = Field(ge=0)
    removal_timeout_seconds: int = Field(ge=0)


class GlobalSettings(StoreSettings):
    """The template's Globals, which every function gets: the tables, and what Powertools, botocore and pydantic
    read."""

    powertools_service_name: str = Field(min_length=1)
    powertools_metrics_namespace: str = Field(min_length=1)
    powertools_log_level: str = Field(min_length=1)
    powertools_logger_log_event: bool
    aws_endpoint_url: str = ""
    bake_alarm_prefix: str = Field(min_length=1)  # naming.bake_alarm_prefix: `<stack>-bake-`
    pydantic_disable_plugins: str = ""  # read by pydantic: "__all__", no plugin discovery (none is installed)


class ApiSettings(_EnvSettings):
    """The API functions: whether their handlers record X-Ray SDK subsegments (observability.py)."""

    tracer_subsegments: bool = True


# Each function's environment beyond GlobalSettings, by code directory: the groups of settings its code loads.
# tests/component/test_function_environment.py holds the template to exactly these variables, no more, no fewer.
FUNCTION_SETTINGS: dict[str, tuple[type[_EnvSettings], ...]] = {
    "create_task": (
        ApiSettings,
        CreateTaskSettings,
        WorkflowSettings,
        AuthorizationSettings,
        RepairStartSettings,
        IdempotencySettings,
        CallerAlarmSettings,
        EventSettings,  # an owner transfer is published on the bus
    ),
    "read_task": (ApiSettings,),
    "cancel_task": (ApiSettings, AuthorizationSettings),
    "sweep_model_endpoints": (SweepSettings,),
    "finish_abandoned_task": (RepairStartSettings,),
    "publish_task_events": (EventSettings,),
    "reconcile_endpoints": (ReconcilerSettings,),
    "fail_unstarted_tasks": (RepairStartSettings,),
    "converge_model": (RepairSettings,),
    "prepare_green": (CompatibilitySettings,),
}


SettingsT = TypeVar("SettingsT", bound=_EnvSettings)


def load_settings[SettingsT: _EnvSettings](model: type[SettingsT]) -> SettingsT:
    """Build `model` from the function's environment (field `x_y` reads `X_Y`; see environment.py). A missing or
    bad value is a ConfigurationError naming the variable, so a broken deployment fails loudly on its first request.
    The environment is read on every call (a few lookups) and only the validation is cached, so a
    process hosting several functions (the local stack) never hands one function another's settings."""
    variables = environment()
    values = tuple((name, variables[name.upper()]) for name in model.model_fields if name.upper() in variables)
    settings: SettingsT = _validated(model, values)
    return settings


@cache
def _validated[SettingsT: _EnvSettings](model: type[SettingsT], values: tuple[tuple[str, str], ...]) -> SettingsT:
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(
            f"{str(e['loc'][0]).upper()}: {e['msg']}" if e["loc"] else str(e["msg"]) for e in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration for {model.__name__}: {problems}") from None


def clear_settings_cache() -> None:
    _validated.cache_clear()
