"""POST /deploy and POST /delete: record a task and start its workflow; PUT /models/{id}/owner: an admin
moves a model to another team."""

# ruff: noqa: E402 - the imports follow gc.disable()

from __future__ import annotations

import gc

# The objects the imports below create live as long as the process: the collector's passes over them as
# they are made free nothing, and cost 20-25 ms CPU of a cold start (bench/README.md, "Cold start, third
# pass"). No collection until the end of this module, which freezes them out of later ones.
gc.disable()

from http import HTTPStatus
from typing import Annotated, Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from inference_deploy import dependencies
from inference_deploy.api.authorization import authorize_admin, authorize_request, owner_to_pin
from inference_deploy.api.params import Header, OpenAPIResponse, Path, Response
from inference_deploy.api.resolver import build_resolver, problem_responses
from inference_deploy.errors import (
    AlarmsNotAllowed,
    AuthorizationUnavailable,
    CapacityDrop,
    CloudWatchUnavailable,
    CostLimitExceeded,
    ExecutionStartFailed,
    Forbidden,
    IdempotencyKeyReused,
    ModelBusy,
    ModelNotFound,
    ModelNotServed,
    RequestInProgress,
    SageMakerThrottled,
    StoreUnavailable,
    TaskConflict,
    UnknownAlarms,
    WorkflowServiceUnavailable,
)
from inference_deploy.logic.capacity import check_capacity_drop
from inference_deploy.logic.cost_limits import check_cost_limits
from inference_deploy.logic.ownership import transfer_owner
from inference_deploy.logic.tasks import check_rollback_alarms, create_task
from inference_deploy.models.common import MODEL_ID_PATTERN
from inference_deploy.models.requests import DeleteRequest, DeployRequest, OwnerTransferRequest
from inference_deploy.models.serving import ModelOwner
from inference_deploy.models.settings import CallerAlarmSettings, CreateTaskSettings, load_settings
from inference_deploy.models.task import Task, TaskKind
from inference_deploy.observability import logger, metrics, tracer

BASE = "/internal/inference-deployment"
app = build_resolver()

ACCEPTED = cast(
    OpenAPIResponse,
    {
        "description": "Task accepted; its workflow has started",
        "headers": {
            "Location": {
                "description": "Path of the task (GET it to follow the task), under the API's stage.",
                "schema": {"type": "string"},
                "required": True,
            }
        },
        "content": {"application/json": {"model": Task}},
    },
)
CREATE_ERRORS = (
    Forbidden,
    ModelNotFound,
    AuthorizationUnavailable,
    ModelBusy,
    TaskConflict,
    RequestInProgress,
    IdempotencyKeyReused,
    StoreUnavailable,
    ExecutionStartFailed,
    WorkflowServiceUnavailable,
)


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,128}$",
        description="Repeat a request with the same key and body within an hour to get its original answer.",
    ),
]


def _create(kind: TaskKind, request: DeployRequest | DeleteRequest, idempotency_key: str | None) -> Response[str]:
    identity = app.current_event.request_context.identity
    caller = identity.user_arn or identity.caller or "unknown"
    settings = load_settings(CreateTaskSettings)
    # Every check comes before the idempotency record: a refused request writes nothing at all.
    if isinstance(request, DeployRequest):
        check_cost_limits(request, settings)
    grant = authorize_request(app.current_event, request.embedding_model_id, kind.value)
    if isinstance(request, DeployRequest):
        if request.rollback_alarms:  # without any, no check to make: no CloudWatch client on a cold start
            prefix = load_settings(CallerAlarmSettings).caller_alarm_prefix
            check_rollback_alarms(request, dependencies.alarms(), prefix)
        check_capacity_drop(request, dependencies.model_store(), dependencies.sagemaker())

    def work() -> Task:
        return create_task(
            kind,
            request,
            initiated_by=caller,
            requested_by=grant.metadata(),
            settings=settings,
            store=dependencies.task_store(),
            executions=dependencies.executions(),
            repairs=dependencies.repairs(),
            pin=owner_to_pin(grant, request.embedding_model_id),
        )

    if idempotency_key is None:
        task = work()
    else:
        # Imported with the first key: a request without one never loads Powertools' idempotency utility.
        from inference_deploy.logic.idempotency import run_once  # noqa: PLC0415

        task = run_once(
            work,
            scope={"caller": caller, "route": kind.value, "key": idempotency_key},
            payload=request.model_dump(mode="json"),
            persistence=dependencies.idempotency_store(),
            lambda_context=app.lambda_context,
        )
    location = f"{app.current_event.request_context.path or app.current_event.path}/{task.id}"
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body=task.model_dump_json(),
        headers={"Location": location},
    )


@app.post(
    f"{BASE}/deploy",
    summary="Schedule a green deployment of an embedding model",
    responses={
        202: ACCEPTED,
        **problem_responses(
            *CREATE_ERRORS,
            CostLimitExceeded,
            AlarmsNotAllowed,
            CapacityDrop,
            UnknownAlarms,
            CloudWatchUnavailable,
            SageMakerThrottled,
            body=True,
        ),
    },
)
def deploy(request: DeployRequest, idempotency_key: IdempotencyKeyHeader = None) -> Response[str]:
    return _create(TaskKind.DEPLOY, request, idempotency_key)


@app.post(
    f"{BASE}/delete",
    summary="Schedule the removal of an embedding model from the inference system",
    responses={
        202: ACCEPTED,
        **problem_responses(*CREATE_ERRORS, ModelNotServed, body=True),
    },
)
def delete(request: DeleteRequest, idempotency_key: IdempotencyKeyHeader = None) -> Response[str]:
    return _create(TaskKind.DELETE, request, idempotency_key)


@app.put(
    f"{BASE}/models/<embedding_model_id>/owner",
    summary="Move a model to another owner team (admins only); recorded on the model and published as an event",
    responses={
        200: {"description": "The model's owner now", "content": {"application/json": {"model": ModelOwner}}},
        **problem_responses(Forbidden, ModelNotFound, AuthorizationUnavailable, StoreUnavailable, body=True),
    },
)
def transfer(
    embedding_model_id: Annotated[
        str, Path(description="SageMaker Model name", min_length=1, max_length=63, pattern=MODEL_ID_PATTERN)
    ],
    request: OwnerTransferRequest,
) -> Response[str]:
    grant = authorize_admin(app.current_event, "transfer the owner of a model")
    owner = transfer_owner(
        embedding_model_id,
        request.team,
        by=grant.caller_arn,
        models=dependencies.model_store(),
        bus=dependencies.event_bus(),
    )
    return Response(status_code=HTTPStatus.OK, content_type="application/json", body=owner.model_dump_json())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# What the import made is never garbage: kept out of every later collection, which then runs as usual.
gc.freeze()
gc.enable()
