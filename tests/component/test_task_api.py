"""The six routes of the contract, driven through the handlers with the events/ samples on moto."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from create_task.app import lambda_handler as create_handler
from read_task.app import lambda_handler as read_handler

from inference_deploy.adapters import aws as clients
from inference_deploy.adapters.task_store import task_to_item
from inference_deploy.ids import new_task_id
from inference_deploy.models.common import TASK_ID_PATTERN
from inference_deploy.models.task import Task, TaskKind
from tests.conftest import ApiResponse, call_api, load_event, register_model, serve_directly, wait_for

BASE = "/internal/inference-deployment"
CALLER_ARN = "arn:aws:sts::123456789012:assumed-role/ml-platform-ci/session"


def deploy(model_id: str = "embed-deploy-123", **fields: Any) -> ApiResponse:
    return call_api(create_handler, load_event("deploy", body=_json({"embedding_model_id": model_id, **fields})))


def delete(model_id: str = "embed-deploy-123", **fields: Any) -> ApiResponse:
    return call_api(create_handler, load_event("delete", body=_json({"embedding_model_id": model_id, **fields})))


@pytest.fixture(autouse=True)
def _models(aws: Any) -> None:
    """The SageMaker Models these tests create tasks for (a model that does not exist is a 404); their
    endpoints fail, so each deploy ends quickly: these tests are about the task API, not the rollout."""
    for model in ("embed-deploy-123", "model-a", "model-b", "model-c"):
        register_model(aws, model, endpoint_status="Failed")


def get(route: str, value: str) -> ApiResponse:
    name, param = {
        "deploy": ("get_deploy_task", "task_id"),
        "delete": ("get_delete_task", "task_id"),
        "deploy-status": ("get_model_deploy_status", "embedding_model_id"),
        "delete-status": ("get_model_delete_status", "embedding_model_id"),
    }[route]
    event = load_event(name, path=f"{BASE}/{route}/{value}", pathParameters={param: value})
    return call_api(read_handler, event)


def _json(value: Any) -> str:
    return json.dumps(value)


def test_deploy_answers_202_with_a_pending_task_in_the_contract_shape(aws):
    response = deploy()

    assert response.status == 202
    task = response.body
    assert set(task) >= {"id", "embedding_model_id", "status", "created_at", "updated_at", "metadata"}
    assert re.fullmatch(TASK_ID_PATTERN, task["id"])
    assert task["id"].startswith("deploy-")
    assert task["embedding_model_id"] == "embed-deploy-123"
    assert task["status"] == "pending"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", task["created_at"])
    assert task["metadata"]["deployment_target"] == "inference-cluster-prod"
    assert task["metadata"]["initiated_by"] == CALLER_ARN
    assert task["execution_arn"].endswith(
        f":execution:{aws.stack.state_machines['DeployStateMachine'].name}:{task['id']}"
    )
    assert response.headers["Location"] == f"/v1{BASE}/deploy/{task['id']}"


def test_delete_records_its_deletion_type_and_reason(aws):
    serve_directly(aws, "embed-deploy-123")
    response = delete(reason="model deprecated")

    assert response.status == 202
    assert response.body["id"].startswith("delete-")
    assert response.body["metadata"] == {
        "deployment_target": "inference-cluster-prod",
        "deletion_type": "manual",
        "reason": "model deprecated",
        "initiated_by": CALLER_ARN,
        "requested_by": {"arn": CALLER_ARN, "tag_key": "team", "team": None, "allowed_as": "admin"},
    }


def test_each_kind_of_task_is_readable_by_id_under_its_own_route_only(aws):
    serve_directly(aws, "other-model")
    deploy_task = deploy().body
    delete_task = delete(model_id="other-model").body

    assert get("deploy", deploy_task["id"]).body["id"] == deploy_task["id"]
    assert get("delete", delete_task["id"]).body["id"] == delete_task["id"]

    for route, task_id in (("delete", deploy_task["id"]), ("deploy", delete_task["id"])):
        response = get(route, task_id)
        assert response.status == 404
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.body["code"] == "task_not_found"


def test_an_unknown_task_id_is_a_404_problem(aws):
    response = get("deploy", "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3")
    assert response.status == 404
    assert response.body["status"] == 404
    assert response.body["type"].endswith(":task_not_found")


def test_status_routes_return_the_latest_task_of_their_kind_for_each_model(aws):
    created: dict[tuple[str, str], list[str]] = {}
    for _ in range(3):
        for model in ("model-a", "model-b", "model-c"):
            kinds = (("deploy", deploy),) if model == "model-c" else (("deploy", deploy), ("delete", delete))
            for kind, create in kinds:
                if kind == "delete":
                    serve_directly(aws, model)
                task = create(model).body
                wait_for(aws, task["execution_arn"])  # one task at a time per model, as callers must
                created.setdefault((model, kind), []).append(task["id"])

    for (model, kind), ids in created.items():
        response = get(f"{kind}-status", model)
        assert response.status == 200
        assert response.body["id"] == ids[-1], (model, kind)
        assert response.body["embedding_model_id"] == model

    missing = get("delete-status", "model-c")
    assert missing.status == 404
    assert missing.body["code"] == "no_task_for_model"


def test_a_task_runs_its_workflow_to_succeeded(aws):
    register_model(aws, "embed-deploy-123")
    task = deploy().body
    execution = wait_for(aws, task["execution_arn"])

    assert execution["status"] == "SUCCEEDED"
    finished = get("deploy", task["id"]).body
    assert finished["status"] == "succeeded"
    assert finished["updated_at"] >= finished["created_at"]
    assert finished["error"] is None


@pytest.mark.parametrize("route", ["deploy-status", "delete-status"])
def test_status_reads_one_item_however_long_the_history(aws, route):
    """1,000 earlier tasks of the model (and of another): DynamoDB must report one item read."""
    kind = TaskKind(route.split("-")[0])
    table = aws.stack.tables["TasksTable"].name
    ddb = aws.client("dynamodb")
    base_ms = 1_700_000_000_000
    for model in ("busy-model", "neighbour"):
        items = [
            task_to_item(
                Task.new(new_task_id(kind, now_ms=base_ms + i), model, {}, "arn:aws:states:us-east-1:1:execution:m:x")
            )
            for i in range(1_000)
        ]
        for start in range(0, len(items), 25):
            ddb.batch_write_item(
                RequestItems={table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
            )
    newest = new_task_id(kind, now_ms=base_ms + 5_000)

    reported: list[dict[str, Any]] = []
    clients.dynamodb().meta.events.register("after-call.dynamodb.Query", lambda parsed, **_: reported.append(parsed))
    response = get(route, "busy-model")

    assert response.status == 200
    assert response.body["id"] < newest
    assert response.body["id"].startswith(kind.value)
    assert len(reported) == 1
    assert reported[0]["Count"] == 1
    assert reported[0]["ScannedCount"] == 1
