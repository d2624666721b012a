"""POST /deploy/{task_id}/cancel and POST /delete/{task_id}/cancel: ask a task's workflow to undo it."""

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
from inference_deploy.api.authorization import authorize_request
from inference_deploy.api.params import Body, OpenAPIResponse, Path, Response
from inference_deploy.api.resolver import build_resolver, problem_responses
from inference_deploy.errors import (
    AuthorizationUnavailable,
    Forbidden,
    StoreUnavailable,
    TaskNotCancellable,
    TaskNotFound,
    WorkflowServiceUnavailable,
)
from inference_deploy.logic.cancel import cancel_task
from inference_deploy.models.requests import CancelRequest
from inference_deploy.models.task import Task, TaskKind
from inference_deploy.observability import logger, metrics, tracer

BASE = "/internal/inference-deployment"
app = build_resolver()

CANCELLED = cast(
    OpenAPIResponse,
    {
        "description": "The cancel is recorded (also when it already was): the task is `cancelling` while its "
        "workflow undoes what it did, then `cancelled`; poll the task (Location) to see it end",
        "headers": {
            "Location": {
                "description": "Path of the task, under the API's stage.",
                "schema": {"type": "string"},
                "required": True,
            }
        },
        "content": {"application/json": {"model": Task}},
    },
)
CANCEL_ERRORS = (
    Forbidden,
    TaskNotFound,
    TaskNotCancellable,
    AuthorizationUnavailable,
    StoreUnavailable,
    WorkflowServiceUnavailable,
)
TaskIdParam = Annotated[str, Path(description="Task id")]
CancelBody = Annotated[CancelRequest | None, Body(description="Optional: why the task is cancelled.")]


def _cancel(kind: TaskKind, task_id: str, request: CancelRequest | None) -> Response[str]:
    identity = app.current_event.request_context.identity
    caller = identity.user_arn or identity.caller or "unknown"
    task = cancel_task(
        kind,
        task_id,
        cancelled_by=caller,
        reason=request.reason if request else None,
        store=dependencies.task_store(),
        tokens=dependencies.task_tokens(),
        # Allowed to whoever may create a task of this kind for the task's model (403, nothing written).
        authorize=lambda found: authorize_request(app.current_event, found.embedding_model_id, kind.value),
    )
    path = app.current_event.request_context.path or app.current_event.path
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body=task.model_dump_json(),
        headers={"Location": path.removesuffix("/cancel")},
    )


@app.post(
    f"{BASE}/deploy/<task_id>/cancel",
    summary="Cancel a deployment: before the switch green is discarded, during the bake traffic goes back to blue",
    responses={202: CANCELLED, **problem_responses(*CANCEL_ERRORS, body=True)},
)
def cancel_deploy(task_id: TaskIdParam, request: CancelBody = None) -> Response[str]:
    return _cancel(TaskKind.DEPLOY, task_id, request)


@app.post(
    f"{BASE}/delete/<task_id>/cancel",
    summary="Cancel a deletion before its endpoints are deleted: the model is routed again",
    responses={202: CANCELLED, **problem_responses(*CANCEL_ERRORS, body=True)},
)
def cancel_delete(task_id: TaskIdParam, request: CancelBody = None) -> Response[str]:
    return _cancel(TaskKind.DELETE, task_id, request)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# What the import made is never garbage: kept out of every later collection, which then runs as usual.
gc.freeze()
gc.enable()
