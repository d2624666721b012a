"""GET routes: a task by id, the latest task of a model (one Query on the ByModelKind index), a model's
task history (one Query per kind per page), and the endpoint that serves a model."""

# ruff: noqa: E402 - the imports follow gc.disable()

from __future__ import annotations

import gc

# The objects the imports below create live as long as the process: the collector's passes over them as
# they are made free nothing, and cost 20-25 ms CPU of a cold start (bench/README.md, "Cold start, third
# pass"). No collection until the end of this module, which freezes them out of later ones.
gc.disable()

from typing import Annotated, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from inference_deploy import dependencies
from inference_deploy.api.params import Path, Query
from inference_deploy.api.resolver import build_resolver, problem_responses
from inference_deploy.errors import (
    DomainError,
    InvalidPageToken,
    ModelHasNoTasks,
    ModelNotServed,
    StoreUnavailable,
    TaskNotFound,
)
from inference_deploy.logic.history import DEFAULT_LIMIT, MAX_LIMIT, MAX_TOKEN_LENGTH, task_history
from inference_deploy.logic.reads import get_task, latest_task, serving_record
from inference_deploy.models.serving import ServingRecord
from inference_deploy.models.task import Task, TaskKind, TaskPage
from inference_deploy.observability import logger, metrics, tracer

BASE = "/internal/inference-deployment"
app = build_resolver()


def _responses(model: type[BaseModel], not_found: type[DomainError]) -> dict[int, Any]:
    ok = {"description": "Found", "content": {"application/json": {"model": model}}}
    return {200: ok, **problem_responses(not_found, StoreUnavailable)}


# Not enforced here: an id that cannot exist is simply not found (404) like an unknown one, which the read
# logic answers. scripts/gen_openapi.py documents the patterns.
TaskIdParam = Annotated[str, Path(description="Task id")]
ModelIdParam = Annotated[str, Path(description="SageMaker Model name")]


@app.get(f"{BASE}/deploy/<task_id>", summary="A deployment task by id", responses=_responses(Task, TaskNotFound))
def get_deploy_task(task_id: TaskIdParam) -> Task:
    return get_task(TaskKind.DEPLOY, task_id, dependencies.task_store())


@app.get(f"{BASE}/delete/<task_id>", summary="A deletion task by id", responses=_responses(Task, TaskNotFound))
def get_delete_task(task_id: TaskIdParam) -> Task:
    return get_task(TaskKind.DELETE, task_id, dependencies.task_store())


@app.get(
    f"{BASE}/deploy-status/<embedding_model_id>",
    summary="The latest deployment task of a model",
    responses=_responses(Task, ModelHasNoTasks),
)
def get_model_deploy_status(embedding_model_id: ModelIdParam) -> Task:
    return latest_task(TaskKind.DEPLOY, embedding_model_id, dependencies.task_store())


@app.get(
    f"{BASE}/delete-status/<embedding_model_id>",
    summary="The latest deletion task of a model",
    responses=_responses(Task, ModelHasNoTasks),
)
def get_model_delete_status(embedding_model_id: ModelIdParam) -> Task:
    return latest_task(TaskKind.DELETE, embedding_model_id, dependencies.task_store())


@app.get(
    f"{BASE}/models/<embedding_model_id>",
    summary="The endpoint that serves a model now (its serving record)",
    responses=_responses(ServingRecord, ModelNotServed),
)
def get_serving_record(embedding_model_id: ModelIdParam) -> ServingRecord:
    return serving_record(embedding_model_id, dependencies.model_store())


@app.get(
    f"{BASE}/models/<embedding_model_id>/tasks",
    summary="A model's tasks, newest first, a page at a time",
    responses={
        200: {"description": "A page of tasks", "content": {"application/json": {"model": TaskPage}}},
        **problem_responses(InvalidPageToken, ModelHasNoTasks, StoreUnavailable, query=True),
    },
)
def get_model_tasks(
    embedding_model_id: ModelIdParam,
    kind: Annotated[TaskKind | None, Query(description="Only tasks of this kind; both kinds when omitted")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Tasks per page")] = DEFAULT_LIMIT,
    next_token: Annotated[
        str | None, Query(max_length=MAX_TOKEN_LENGTH, description="The next_token of the previous page")
    ] = None,
) -> TaskPage:
    return task_history(embedding_model_id, kind, limit, next_token, dependencies.task_store())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


# What the import made is never garbage: kept out of every later collection, which then runs as usual.
gc.freeze()
gc.enable()
