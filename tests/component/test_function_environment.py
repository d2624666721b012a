"""Each function of the stack sees the environment its template definition gives it, no more."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from local_stack import lambdas
from local_stack.emulator import EmulatedAws
from tests.conftest import load_event, serve_directly

MODEL = "embed-env-1"


def get_serving_record(aws: EmulatedAws) -> dict[str, object]:
    event = load_event(
        "get_model_deploy_status",
        path=f"/internal/inference-deployment/models/{MODEL}",
        pathParameters={"embedding_model_id": MODEL},
    )
    event["resource"] = event["requestContext"]["resourcePath"] = (
        "/internal/inference-deployment/models/{embedding_model_id}"
    )
    function = aws.stack.function("ReadTaskFunction")
    answer = aws.client("lambda").invoke(FunctionName=function.name, Payload=json.dumps(event))
    payload: dict[str, object] = json.loads(answer["Payload"].read())
    return payload


def test_a_function_reads_its_own_variables_through_the_router(aws: EmulatedAws) -> None:
    serve_directly(aws, MODEL)

    answer = get_serving_record(aws)

    assert answer["statusCode"] == 200, answer


def test_a_variable_missing_from_a_functions_definition_fails_it_locally(
    aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_directly(aws, MODEL)
    read = aws.stack.function("ReadTaskFunction")
    without_table = {key: value for key, value in read.environment.items() if key != "MODELS_TABLE_NAME"}
    monkeypatch.setitem(lambdas._registry, read.arn, dataclasses.replace(read, environment=without_table))

    answer = get_serving_record(aws)

    assert os.environ["MODELS_TABLE_NAME"], "the test process still holds the other functions' variables"
    assert answer["statusCode"] == 500
    assert json.loads(str(answer["body"]))["code"] == "configuration_error"
