"""Every input a client can send is validated: a 4xx problem body, and nothing written or started."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from create_task.app import lambda_handler as create_handler
from read_task.app import lambda_handler as read_handler

from inference_deploy import dependencies
from inference_deploy.observability import logger
from tests.conftest import call_api, load_event, register_model

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
    ("event_name", "param", "value", "code"),
    [
        ("get_deploy_task", "task_id", "42", "task_not_found"),
        ("get_deploy_task", "task_id", "hello", "task_not_found"),
        ("get_deploy_task", "task_id", "deploy-lowercase0000000000000000", "task_not_found"),
        ("get_delete_task", "task_id", "delete-" + "0" * 200, "task_not_found"),
        ("get_model_deploy_status", "embedding_model_id", "bad_model", "no_task_for_model"),
        ("get_model_delete_status", "embedding_model_id", "m" * 64, "no_task_for_model"),
        ("get_serving_record", "embedding_model_id", "-leading-dash", "model_not_served"),
    ],
)
def test_ids_that_cannot_exist_are_not_found_like_unknown_ones(aws, event_name, param, value, code):
    malformed = load_event(event_name, pathParameters={param: value})
    malformed["path"] = malformed["path"].rsplit("/", 1)[0] + "/" + value
    unknown = load_event(event_name)

    response = call_api(read_handler, malformed)

    _assert_problem(response, 404, code)
    assert call_api(read_handler, unknown).body["code"] == code


def test_a_workflow_that_cannot_start_leaves_no_pending_task(aws, monkeypatch):
    missing = aws.stack.state_machines["DeployStateMachine"].arn + "-gone"
    monkeypatch.setenv("DEPLOY_STATE_MACHINE_ARN", missing)
    dependencies.reset()
    register_model(aws, "embed-deploy-123")

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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


HOSTILE_BODIES: list[tuple[str, str, bool, int, str]] = [
    # (case, body as the event carries it, isBase64Encoded, status, code)
    ("nested past the parser's depth", "[" * 10_000, False, 400, "malformed_json"),
    ("nested objects past the depth", '{"a":' * 3_000, False, 400, "malformed_json"),
    (
        "integer over 4300 digits",
        '{"embedding_model_id": "m", "initial_instance_count": ' + "9" * 5_000 + "}",
        False,
        400,
        "malformed_json",
    ),
    ("invalid base64", "not base64!", True, 400, "malformed_json"),
    ("invalid utf-8 byte", _b64(b'{"embedding_model_id": "m\xff"}'), True, 400, "malformed_json"),
    ("truncated utf-8 sequence", _b64(b'{"embedding_model_id": "m\xe2\x82"}'), True, 400, "malformed_json"),
    ("latin-1", _b64('{"embedding_model_id": "mé"}'.encode("latin-1")), True, 400, "malformed_json"),
    ("utf-16", _b64('{"embedding_model_id": "m"}'.encode("utf-16")), True, 400, "malformed_json"),
    (
        "array of objects",
        '[{"embedding_model_id": "embed-deploy-123"}, {"anything": 1}]',
        False,
        422,
        "validation_error",
    ),
    ("base64 array", _b64(b'[{"embedding_model_id": "embed-deploy-123"}]'), True, 422, "validation_error"),
    ("number", "42", False, 422, "validation_error"),
]


@pytest.mark.parametrize(
    ("case", "body", "base64_encoded", "status", "code"), HOSTILE_BODIES, ids=[c[0] for c in HOSTILE_BODIES]
)
@pytest.mark.parametrize("route", ["deploy", "delete"])
def test_hostile_bodies_get_a_4xx_problem_and_write_nothing(aws, route, case, body, base64_encoded, status, code):
    event = load_event(route, body=body, isBase64Encoded=base64_encoded)
    event["headers"] = {**event["headers"], "Idempotency-Key": f"hostile-{route}"}

    response = call_api(create_handler, event)

    _assert_problem(response, status, code)
    assert [e["location"] for e in response.body["errors"]] == ["body"]
    _assert_nothing_written(aws)
    idempotency = aws.stack.tables["IdempotencyTable"].name
    assert aws.client("dynamodb").scan(TableName=idempotency, Select="COUNT")["Count"] == 0


def test_an_array_body_does_not_share_an_idempotency_key_with_its_first_element(aws):
    register_model(aws, "embed-deploy-123")
    headers = {"Content-Type": "application/json", "Idempotency-Key": "array-then-object"}
    array = load_event("deploy", body='[{"embedding_model_id": "embed-deploy-123"}]', headers=headers)
    obj = load_event("deploy", body='{"embedding_model_id": "embed-deploy-123"}', headers=headers)

    assert call_api(create_handler, array).status == 422
    accepted = call_api(create_handler, obj)

    assert accepted.status == 202, accepted.body
    aws.client("stepfunctions").stop_execution(executionArn=accepted.body["execution_arn"])


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8"])
@pytest.mark.parametrize("base64_encoded", [False, True])
def test_media_types_are_case_insensitive(aws, content_type, base64_encoded):
    register_model(aws, "embed-deploy-123")
    body = '{"embedding_model_id": "embed-deploy-123"}'
    event = load_event("deploy", body=_b64(body.encode()) if base64_encoded else body, isBase64Encoded=base64_encoded)
    event["headers"] = {**event["headers"], "Content-Type": content_type}

    response = call_api(create_handler, event)

    assert response.status == 202, response.body
    assert response.body["embedding_model_id"] == "embed-deploy-123"
    aws.client("stepfunctions").stop_execution(executionArn=response.body["execution_arn"])


@pytest.mark.parametrize(
    ("code", "status", "problem_code"),
    [
        ("ThrottlingException", 503, "store_unavailable"),
        ("ProvisionedThroughputExceededException", 503, "store_unavailable"),
        ("ResourceNotFoundException", 500, "configuration_error"),
        ("AccessDeniedException", 500, "configuration_error"),
    ],
)
def test_idempotency_store_failures_carry_no_aws_text_and_misconfiguration_is_not_retryable(
    aws, faults, code, status, problem_code
):
    register_model(aws, "embed-deploy-123")
    faults.fail("dynamodb", "PutItem", code)
    event = load_event("deploy", body='{"embedding_model_id": "embed-deploy-123"}')
    event["headers"] = {**event["headers"], "Idempotency-Key": "store-fails"}

    response = call_api(create_handler, event)

    _assert_problem(response, status, problem_code)
    text = json.dumps(response.body)
    for aws_text in ("injected", "PutItem", code):
        assert aws_text not in text
    assert ("Retry-After" in response.headers) == (status == 503)
    _assert_nothing_written(aws)


def test_read_store_failures_carry_no_aws_text(aws, faults):
    faults.fail("dynamodb", "Query", "ThrottlingException")

    response = call_api(read_handler, load_event("get_model_deploy_status"))

    _assert_problem(response, 503, "store_unavailable")
    assert "injected" not in json.dumps(response.body)
    assert "Query" not in response.body["detail"]
    assert response.headers["Retry-After"]


@pytest.mark.parametrize(
    ("code", "status", "problem_code"),
    [
        ("ThrottlingException", 503, "store_unavailable"),
        ("ResourceNotFoundException", 500, "configuration_error"),
        ("AccessDeniedException", 500, "internal_error"),
    ],
)
def test_task_store_failures_carry_no_aws_text_and_only_transient_ones_are_retryable(
    aws, faults, code, status, problem_code
):
    faults.fail("dynamodb", "GetItem", code)

    response = call_api(read_handler, load_event("get_deploy_task"))

    _assert_problem(response, status, problem_code)
    text = json.dumps(response.body)
    for aws_text in ("injected", "GetItem", code):
        assert aws_text not in text
    assert ("Retry-After" in response.headers) == (status == 503)


def _log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("first", ["get_deploy_task", "create"])
def test_a_warm_invocation_logs_nothing_of_the_previous_request(aws, faults, first):
    if first == "create":
        register_model(aws, "embed-deploy-123")
        register_model(aws, "other-model")
        earlier = call_api(create_handler, load_event("deploy", body='{"embedding_model_id": "embed-deploy-123"}'))
        aws.client("stepfunctions").stop_execution(executionArn=earlier.body["execution_arn"])
        previous_task_id = earlier.body["id"]
        handler = create_handler
        failing = load_event("deploy", body='{"embedding_model_id": "other-model"}')
        faults.fail("dynamodb", "TransactWriteItems", "ThrottlingException")
        faults.fail("dynamodb", "PutItem", "ThrottlingException")
    else:
        earlier = load_event("get_deploy_task")
        previous_task_id = earlier["pathParameters"]["task_id"]
        call_api(read_handler, earlier)  # appends its task_id, answers 404 (no log line)
        handler = read_handler
        failing = load_event(
            "get_model_deploy_status",
            path=f"{BASE}/deploy-status/other-model",
            pathParameters={"embedding_model_id": "other-model"},
        )
        faults.fail("dynamodb", "Query", "ThrottlingException")
    log = io.StringIO()
    stream = logger.registered_handler.setStream(log)
    try:
        response = call_api(handler, failing)
    finally:
        logger.registered_handler.setStream(stream)

    assert response.status == 503, response.body
    lines = _log_lines(log.getvalue())
    assert any(line.get("message") == "request failed" for line in lines), lines
    for line in lines:
        assert previous_task_id not in json.dumps(line), line
        assert line.get("embedding_model_id") in (None, "other-model"), line
