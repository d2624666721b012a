"""Each function of the stack sees the environment its template definition gives it, no more."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml
from pydantic import BaseModel

from inference_deploy.models.settings import FUNCTION_SETTINGS, GlobalSettings
from local_stack import lambdas
from local_stack.emulator import EmulatedAws
from tests.conftest import TEMPLATE, load_event, serve_directly

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


@pytest.mark.parametrize(
    ("sample", "function", "status", "code"),
    [
        ("cancel_deploy", "CancelTaskFunction", 404, "task_not_found"),
        ("cancel_delete", "CancelTaskFunction", 404, "task_not_found"),
        ("get_deploy_task", "ReadTaskFunction", 404, "task_not_found"),
        ("get_delete_task", "ReadTaskFunction", 404, "task_not_found"),
        ("get_model_deploy_status", "ReadTaskFunction", 404, "no_task_for_model"),
        ("get_model_delete_status", "ReadTaskFunction", 404, "no_task_for_model"),
        ("get_model_tasks", "ReadTaskFunction", 200, None),
        ("get_serving_record", "ReadTaskFunction", 404, "model_not_served"),
    ],
)
def test_each_route_answers_through_its_own_function_with_only_its_own_variables(
    aws: EmulatedAws, sample: str, function: str, status: int, code: str | None
) -> None:
    """The sample request of a route (its task or model unknown to the empty stack), invoked as API Gateway invokes the
    function: the function's settings load from its own template variables (a cancel once needed one
    only the create function had, and answered 500 in AWS and under `make run`, never in the tests)."""
    event = load_event(sample)
    invoked = aws.stack.function(function)

    answer = json.loads(
        aws.client("lambda").invoke(FunctionName=invoked.name, Payload=json.dumps(event))["Payload"].read()
    )

    print("PROBE", sample, answer["statusCode"], answer.get("body"))
    assert answer["statusCode"] == status, answer
    body = json.loads(answer["body"])
    if code is None:  # the model's tasks: an empty page, nothing being stored
        assert body == {"tasks": [], "next_token": None}
    else:
        assert body["code"] == code, body


def _variables(*models: type[BaseModel]) -> set[str]:
    return {name.upper() for model in models for name in model.model_fields}


TEMPLATE_DOCUMENT = load_yaml(TEMPLATE)
FUNCTIONS = {
    logical_id: resource["Properties"]
    for logical_id, resource in TEMPLATE_DOCUMENT["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_each_functions_template_environment_is_exactly_what_its_settings_read(logical_id: str) -> None:
    """Globals plus the function's own variables are the fields of GlobalSettings plus its groups in
    FUNCTION_SETTINGS: a variable the code does not read is a copy that drifts (the cancel function once
    carried the create function's 16), one it reads and lacks fails its first request."""
    properties = FUNCTIONS[logical_id]
    code_dir = Path(properties["CodeUri"]).name
    given = set(TEMPLATE_DOCUMENT["Globals"]["Function"]["Environment"]["Variables"]) | set(
        properties.get("Environment", {}).get("Variables", {})
    )

    read = _variables(GlobalSettings, *FUNCTION_SETTINGS.get(code_dir, ()))

    assert sorted(given - read) == [], f"{logical_id} is given variables its code never reads"
    assert sorted(read - given) == [], f"{logical_id} reads variables its template definition does not give"


def test_every_function_with_settings_of_its_own_is_in_the_template() -> None:
    assert set(FUNCTION_SETTINGS) <= {Path(properties["CodeUri"]).name for properties in FUNCTIONS.values()}
