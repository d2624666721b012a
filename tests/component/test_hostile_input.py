"""Arbitrary bodies, headers, path parameters and content types at every route (hypothesis).

Whatever arrives: never a 5xx, never a traceback or internal detail in the answer, always a JSON
body, and nothing written or started on a 4xx.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from create_task.app import lambda_handler as create_handler
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from read_task.app import lambda_handler as read_handler

from tests.conftest import call_api, load_event

BASE = "/internal/inference-deployment"
LEAKS = ("Traceback", 'File "', "pydantic", "botocore", "site-packages", "Exception(")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=12,
)
request_objects = st.fixed_dictionaries(
    {},
    optional={
        "embedding_model_id": st.one_of(
            st.text(max_size=80), json_values, st.from_regex(r"[a-z0-9-]{1,70}", fullmatch=True)
        ),
        "reason": json_values,
        "deletion_type": st.sampled_from(["manual", "automated", "forced", ""]) | json_values,
        "instance_type": st.text(max_size=40) | json_values,
        "initial_instance_count": st.integers(-5, 500) | json_values,
        "allow_dimension_change": json_values,
    },
).flatmap(
    lambda base: st.dictionaries(st.text(max_size=15), json_values, max_size=2).map(lambda extra: {**extra, **base})
)
bodies = st.one_of(
    st.none(),
    st.text(max_size=200),
    json_values.map(json.dumps),
    request_objects.map(json.dumps),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.just("x" * 20_000),
    st.just("[" * 10_000),
    st.just('{"embedding_model_id": ' + "9" * 5_000 + "}"),
    request_objects.map(lambda obj: json.dumps([obj, {"anything": 1}])),
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    st.text(max_size=30),
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=60)


def _count(aws: Any) -> tuple[int, int]:
    tasks = aws.client("dynamodb").scan(TableName=aws.stack.tables["TasksTable"].name, Select="COUNT")["Count"]
    sfn = aws.client("stepfunctions")
    executions = sum(
        len(sfn.list_executions(stateMachineArn=m.arn)["executions"]) for m in aws.stack.state_machines.values()
    )
    return tasks, executions


def _check(response: Any, before: tuple[int, int], aws: Any, sent: str = "") -> None:
    """`sent` is what the caller sent: a problem may echo it (a path that spells "pydantic" is no leak)."""
    assert response.status < 500, response.body
    text = json.dumps(response.body)
    assert not any(leak in text for leak in LEAKS if leak not in sent), text
    if response.status >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.body["status"] == response.status
        assert _count(aws) == before, "a refused request wrote something"


HYPOTHESIS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@HYPOTHESIS
@given(
    route=st.sampled_from(["deploy", "delete"]),
    body=bodies,
    content_type=content_types,
    idempotency_key=st.none() | header_values,
    base64_encoded=st.booleans(),
    raw_bytes=st.none() | st.binary(max_size=200),
    extra_headers=st.dictionaries(header_values.filter(bool), header_values, max_size=3),
)
def test_write_routes_answer_any_request_with_a_4xx_or_an_accepted_task(
    aws, route, body, content_type, idempotency_key, base64_encoded, raw_bytes, extra_headers
):
    event = load_event(route)
    headers = {**extra_headers}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    event["headers"] = headers
    if raw_bytes is not None:  # what API Gateway hands over for a body it cannot pass as text
        event["body"] = base64.b64encode(raw_bytes).decode()
        event["isBase64Encoded"] = True
    elif base64_encoded and body is not None:
        event["body"] = base64.b64encode(body.encode("utf-8", errors="surrogatepass")).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = body
    before = _count(aws)

    response = call_api(create_handler, event)

    _check(response, before, aws, sent=json.dumps(event))
    assert response.status in {202, 400, 404, 409, 413, 415, 422}, response.body


@HYPOTHESIS
@example(route="deploy", value="pydantic", query=None)  # the caller's own path echoed back is not a leak
@given(
    route=st.sampled_from(["deploy", "delete", "deploy-status", "delete-status", "models"]),
    value=st.text(max_size=120),
    query=st.none() | st.dictionaries(header_values.filter(bool), header_values, max_size=3),
)
def test_read_routes_answer_any_path_parameter_with_a_json_answer(aws, route, value, query):
    param = "task_id" if route in ("deploy", "delete") else "embedding_model_id"
    event = load_event(
        "get_deploy_task",
        resource=f"{BASE}/{route}/{{{param}}}",
        path=f"{BASE}/{route}/{value}",
        pathParameters={param: value},
        queryStringParameters=query,
    )
    before = _count(aws)

    response = call_api(read_handler, event)

    _check(response, before, aws, sent=json.dumps(event))
    assert response.status in {200, 404}, response.body
