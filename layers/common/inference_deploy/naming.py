"""Names and tags of the SageMaker resources a deploy task creates."""

from __future__ import annotations

from inference_deploy.environment import getenv
from inference_deploy.errors import ConfigurationError
from inference_deploy.models.serving import EndpointRef

MANAGED_BY_TAG = "managed_by"
MANAGED_BY = "inference-deployment-tasks"
SAGEMAKER_NAME_LIMIT = 63
# Every endpoint and endpoint config this service creates is named `idt-...`: the template scopes the
# functions' create, tag, invoke and delete permissions to `endpoint/idt-*` and `endpoint-config/idt-*`.
ENDPOINT_NAME_PREFIX = "idt-"


# `<stack name>-bake-` (template Globals): the policies scope the bake alarms' create, describe and delete to
# `alarm:${AWS::StackName}-bake-*`, so no stack reaches another's alarms in the same account.
BAKE_ALARM_PREFIX_VARIABLE = "BAKE_ALARM_PREFIX"


def bake_alarm_prefix() -> str:
    """What the names of this stack's bake alarms start with."""
    prefix = getenv(BAKE_ALARM_PREFIX_VARIABLE, "")
    if not prefix:
        raise ConfigurationError(f"{BAKE_ALARM_PREFIX_VARIABLE} is not set (template Globals)")
    return prefix


def green_endpoint(embedding_model_id: str, task_id: str) -> EndpointRef:
    """`idt-<model id, cut to fit>-<task ULID, lower case>`: unique per task, at most 63 characters for
    every valid model id, recognisable by eye. The full model id is in the tags; sweeps go by tag, not name."""
    suffix = task_id.split("-", 1)[1].lower()
    model = embedding_model_id[: SAGEMAKER_NAME_LIMIT - len(ENDPOINT_NAME_PREFIX) - len(suffix) - 1]
    name = f"{ENDPOINT_NAME_PREFIX}{model}-{suffix}"
    return EndpointRef(endpoint_name=name, endpoint_config_name=name)


def name_prefix(embedding_model_id: str) -> str:
    """What every endpoint name of this model starts with (a filter for ListEndpoints, confirmed by tag)."""
    return green_endpoint(embedding_model_id, "x-" + "0" * 26).endpoint_name[:-27]


def model_resource_tags(embedding_model_id: str, deployment_target: str) -> dict[str, str]:
    """The tags every resource this stack made for the model carries, whichever task made it: what a
    sweep or a repair looks for (never another stack's, which tags another deployment_target)."""
    return {
        "embedding_model_id": embedding_model_id,
        "deployment_target": deployment_target,
        MANAGED_BY_TAG: MANAGED_BY,
    }


def resource_tags(embedding_model_id: str, task_id: str, deployment_target: str) -> dict[str, str]:
    return {
        "embedding_model_id": embedding_model_id,
        "task_id": task_id,
        "deployment_target": deployment_target,
        MANAGED_BY_TAG: MANAGED_BY,
    }
