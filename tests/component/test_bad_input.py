"""Every input a client can send is validated: a 4xx problem body, and nothing written or started."""

from __future__ import annotations

import json
from typing import Any

import pytest
from create_task.app import lambda_handler as create_handler
from read_task.app import lambda_handler as read_handler

from inference_deploy import dependencies
from tests.conftest import call_api, load_event

BASE = "/internal/inference-deployment"


def _assert_nothing_written(aws: Any) -> None:
    table = aws.stack.tables["TasksTable"].name
    assert aws.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"] == 0
    sfn = aws.client("stepfunctions")
    for machine in aws.stack.state_machines.values():
        assert sfn.list_executions(stateMachineArn=machine.arn)["executions"] == []


def _assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status == status, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.body["status"] == status
    assert response.body["code"] == code
    assert response.body["type"] == f"urn:inference-deployment:problem:{code}"
    assert response.body["title"]
    assert response.body["detail"]
    assert "Traceback" not in json.dumps(response.body)


BAD_BODIES: list[tuple[str, str | None, int, str, str | None]] = [
    # (case, raw body, status, code, the field the error names)
    ("malformed json", '{"embedding_model_id": ', 400, "malformed_json", "body"),
    ("no body", None, 422, "validation_error", "body"),
    ("empty object", "{}", 422, "validation_error", "body.embedding_model_id"),
    ("array body", '["embed-deploy-123"]', 422, "validation_error", "body"),
    ("string body", '"embed-deploy-123"', 422, "validation_error", "body"),
    ("null body", "null", 422, "validation_error", "body"),
    ("number id", '{"embedding_model_id": 123}', 422, "validation_error", "body.embedding_model_id"),
    ("null id", '{"embedding_model_id": null}', 422, "validation_error", "body.embedding_model_id"),
    ("empty id", '{"embedding_model_id": ""}', 422, "validation_error", "body.embedding_model_id"),
    (
        "id breaking sagemaker's rule",
        '{"embedding_model_id": "embed_model"}',
        422,
        "validation_error",
        "body.embedding_model_id",
    ),
    ("id with a leading dash", '{"embedding_model_id": "-embed"}', 422, "validation_error", "body.embedding_model_id"),
    # one spelling per model: "Embed-A" and "embed-a" would otherwise hold two slots and two serving records
    ("id with upper case", '{"embedding_model_id": "Embed-A"}', 422, "validation_error", "body.embedding_model_id"),
    (
        "id over 63 chars",
        json.dumps({"embedding_model_id": "m" * 64}),
        422,
        "validation_error",
        "body.embedding_model_id",
    ),
    ("unknown field", '{"embedding_model_id": "m", "force": true}', 422, "validation_error", "body.force"),
    ("oversized body", json.dumps({"embedding_model_id": "m", "pad": "x" * 20_000}), 413, "body_too_large", None),
]


@pytest.mark.parametrize(("case", "body", "status", "code", "location"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
@pytest.mark.parametrize("route", ["deploy", "delete"])
def test_bad_bodies_get_a_problem_and_write_nothing(aws, route, case, body, status, code, location):
    response = call_api(create_handler, load_event(route, body=body))

    _assert_problem(response, status, code)
    if location is not None:
        assert location in [e["location"] for e in response.body["errors"]], response.body
    _assert_nothing_written(aws)


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"embedding_model_id": "m", "reason": ""}, "body.reason"),
        ({"embedding_model_id": "m", "reason": "r" * 513}, "body.reason"),
        ({"embedding_model_id": "m", "deletion_type": "forced"}, "body.deletion_type"),
    ],
)
def test_bad_delete_fields_are_refused(aws, body, location):
    response = call_api(create_handler, load_event("delete", body=json.dumps(body)))

    _assert_problem(response, 422, "validation_error")
    assert [e["location"] for e in response.body["errors"]] == [location]
    _assert_nothing_written(aws)


@pytest.mark.parametrize(
    ("event_name", "param", "value"),
    [
        ("get_deploy_task", "task_id", "42"),
        ("get_deploy_task", "task_id", "deploy-lowercase0000000000000000"),
        ("get_delete_task", "task_id", "delete-" + "0" * 200),
        ("get_model_deploy_status", "embedding_model_id", "bad_model"),
        ("get_model_delete_status", "embedding_model_id", "m" * 64),
    ],
)
def test_bad_path_parameters_are_refused(aws, event_name, param, value):
    event = load_event(event_name, pathParameters={param: value})
    event["path"] = event["path"].rsplit("/", 1)[0] + "/" + value

    response = call_api(read_handler, event)

    _assert_problem(response, 422, "validation_error")
    assert response.body["errors"][0]["location"] == f"path.{param}"


def test_a_workflow_that_cannot_start_leaves_no_pending_task(aws, monkeypatch):
    missing = aws.stack.state_machines["DeployStateMachine"].arn + "-gone"
    monkeypatch.setenv("DEPLOY_STATE_MACHINE_ARN", missing)
    dependencies.reset()

    response = call_api(create_handler, load_event("deploy"))

    _assert_problem(response, 503, "execution_start_failed")
    assert response.headers["Retry-After"]
    _assert_nothing_written(aws)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "embedding_model_id=embed-deploy-123"),
        (
            "multipart/form-data; boundary=b",
            '--b\r\nContent-Disposition: form-data; name="embedding_model_id"\r\n\r\nm\r\n--b--',
        ),
        ("text/plain", '{"embedding_model_id": "embed-deploy-123"}'),
        ("multipart/form-data; boundary=b", None),
    ],
)
def test_bodies_that_are_not_json_are_refused_even_when_they_would_parse(aws, content_type, body):
    event = load_event("deploy", body=body)
    event["headers"] = {**event["headers"], "Content-Type": content_type}

    response = call_api(create_handler, event)

    _assert_problem(response, 415, "unsupported_media_type")
    _assert_nothing_written(aws)
