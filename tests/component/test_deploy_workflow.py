"""Green deployments on emulated SageMaker, running the real deploy ASL on moto's interpreter."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from inference_deploy import dependencies, step_handler
from inference_deploy.logic import green_deploy
from inference_deploy.models.common import MODEL_ID_PATTERN
from tests.component.workflow_helpers import (
    endpoint_configs,
    endpoints_of,
    executed_states,
    green_waits,
    read,
    request,
    run_task,
)
from tests.conftest import register_model, wait_for

MODEL = "embed-deploy-123"
HAPPY_FIRST_DEPLOY = [
    "ProvisionGreen",
    "AwaitGreen",
    "PrepareGreen",
    "SwitchTraffic",
    "IsBaking",
    "MarkSucceeded",
]


def _serving(model_id: str = MODEL) -> dict:
    response = read("models", model_id)
    assert response.status == 200, response.body
    return response.body


def test_a_first_deploy_puts_one_endpoint_in_service_and_routes_the_model_to_it(aws):
    register_model(aws, MODEL)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    metadata = task["metadata"]
    green = metadata["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {green: "InService"}
    assert metadata["endpoint_config_name"] in endpoint_configs(aws)
    assert metadata["previous_endpoint_name"] is None
    assert metadata["embedding_dimension"] == 384
    assert metadata["smoke_test_latency_ms"] >= 0
    assert metadata["instance_type"] == "ml.m5.xlarge"
    assert set(metadata["steps"]) == {
        "resolve_model",
        "provision_green",
        "green_in_service",
        "apply_scaling",
        "smoke_test",
        "embedding_compatibility",
        "switch_traffic",
    }
    record = _serving()
    assert record["endpoint_name"] == green
    assert record["task_id"] == task["id"]
    assert record["embedding_dimension"] == 384

    tags = aws.client("sagemaker").list_tags(
        ResourceArn=aws.client("sagemaker").describe_endpoint(EndpointName=green)["EndpointArn"]
    )["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {
        "embedding_model_id": MODEL,
        "task_id": task["id"],
        "deployment_target": "inference-cluster-prod",
        "managed_by": "inference-deployment-tasks",
    }


def test_the_execution_shows_each_named_step_in_order(aws):
    register_model(aws, MODEL)
    first = run_task(aws, "deploy", MODEL)
    second = run_task(aws, "deploy", MODEL)

    assert executed_states(aws, first["execution_arn"]) == HAPPY_FIRST_DEPLOY
    assert executed_states(aws, second["execution_arn"]) == [
        *HAPPY_FIRST_DEPLOY[:-1],
        "DrainBlue",
        "RetireBlue",  # it ends the task too
    ]


def test_a_redeploy_switches_to_a_new_endpoint_and_retires_the_old_one(aws):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]

    green = run_task(aws, "deploy", MODEL)

    assert green["status"] == "succeeded", green["error"]
    assert green["metadata"]["previous_endpoint_name"] == blue["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {green["metadata"]["endpoint_name"]: "InService"}
    assert blue["endpoint_config_name"] not in endpoint_configs(aws)
    assert _serving()["endpoint_name"] == green["metadata"]["endpoint_name"]
    assert "retire_blue" in green["metadata"]["steps"]


def test_without_state_change_events_green_is_looked_at_once_per_event_wait_until_in_service(aws, monkeypatch):
    register_model(aws, MODEL, creating_polls=3, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "1")
    dependencies.reset()

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    assert green_waits(aws, task["execution_arn"]) == 4


def _assert_blue_untouched(aws, blue: dict, failed: dict) -> None:
    assert endpoints_of(aws, MODEL) == {blue["metadata"]["endpoint_name"]: "InService"}, "no green may be left"
    assert failed["metadata"]["endpoint_config_name"] not in endpoint_configs(aws)
    assert blue["metadata"]["endpoint_config_name"] in endpoint_configs(aws)
    record = _serving()
    assert record["endpoint_name"] == blue["metadata"]["endpoint_name"]
    assert record["task_id"] == blue["id"]


FAILING_GREENS = [
    ({"endpoint_status": "Failed", "failure_reason": "CUDA out of memory"}, "green_failed", "CUDA out of memory"),
    ({"response": "nan"}, "smoke_test_failed", "NaN"),
    ({"response": "zeros"}, "smoke_test_failed", "zero vector"),
    ({"response": "ragged"}, "smoke_test_failed", "different lengths"),
    ({"response": "invalid_json"}, "smoke_test_failed", "not JSON"),
    ({"response": "error"}, "smoke_test_failed", "ModelError"),
    ({"embedding_dimension": 768}, "dimension_changed", "768-dimensional"),
]


@pytest.mark.parametrize(
    ("emulator", "code", "message"), FAILING_GREENS, ids=[c[1] + "-" + str(c[0]) for c in FAILING_GREENS]
)
def test_a_bad_green_fails_the_task_and_leaves_blue_serving(aws, emulator, code, message):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    register_model(aws, MODEL, **emulator)  # a new model version that will not serve well

    failed = run_task(aws, "deploy", MODEL)

    assert failed["status"] == "failed"
    assert failed["error"]["code"] == code
    assert message in failed["error"]["message"]
    assert failed["metadata"]["green_discarded"] is True
    _assert_blue_untouched(aws, blue, failed)
    states = executed_states(aws, failed["execution_arn"])
    assert states[-4:] == ["DiscardGreen", "IsGreenDiscarded", "MarkFailed", "Failed"]


def test_a_green_that_never_comes_up_times_out_and_is_discarded_once_sagemaker_allows(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    # Stuck in Creating (SageMaker refuses its delete) until it turns Failed, as field reports describe.
    register_model(aws, MODEL, creating_polls=4, endpoint_status="Failed")
    monkeypatch.setenv("GREEN_TIMEOUT_SECONDS", "0")
    dependencies.reset()

    failed = run_task(aws, "deploy", MODEL)

    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "green_timeout"
    assert failed["metadata"]["green_discarded"] is True
    _assert_blue_untouched(aws, blue, failed)
    states = executed_states(aws, failed["execution_arn"])
    assert states.count("WaitToDiscard") >= 1, "the delete was refused while green was Creating"
    assert states[-4:] == ["DiscardGreen", "IsGreenDiscarded", "MarkFailed", "Failed"]


def test_a_green_sagemaker_never_lets_go_of_is_reported_left_behind(aws, monkeypatch):
    """Past every bound (a Creating green is waited for up to the hour SageMaker may take, here none)."""
    register_model(aws, MODEL, endpoint_status="Creating")
    monkeypatch.setenv("GREEN_TIMEOUT_SECONDS", "0")
    monkeypatch.setenv("REMOVAL_TIMEOUT_SECONDS", "0")
    monkeypatch.setattr(green_deploy, "CREATING_LIMIT_SECONDS", 0)
    dependencies.reset()

    failed = run_task(aws, "deploy", MODEL)

    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "green_timeout"
    assert failed["metadata"]["green_discarded"] is False
    assert failed["metadata"]["discard_green_error"]["code"] == "endpoint_busy"
    assert endpoints_of(aws, MODEL) == {failed["metadata"]["endpoint_name"]: "Creating"}


@pytest.mark.parametrize("shape", ["list", "embeddings", "embedding"])
def test_the_common_response_shapes_are_understood(aws, shape):
    register_model(aws, MODEL, response_shape=shape)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]


def test_a_first_deploy_that_fails_leaves_nothing_behind(aws):
    register_model(aws, MODEL, response="nan")

    failed = run_task(aws, "deploy", MODEL)

    assert failed["error"]["code"] == "smoke_test_failed"
    assert endpoints_of(aws, MODEL) == {}
    assert endpoint_configs(aws) == set()
    assert read("models", MODEL).status == 404


def test_a_dimension_change_goes_through_when_the_request_allows_it(aws):
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    register_model(aws, MODEL, embedding_dimension=768)

    task = run_task(aws, "deploy", MODEL, allow_dimension_change=True)

    assert task["status"] == "succeeded", task["error"]
    assert task["metadata"]["embedding_dimension"] == 768
    assert task["metadata"]["previous_embedding_dimension"] == 384
    assert _serving()["embedding_dimension"] == 768


def test_a_model_sagemaker_does_not_know_is_a_404_at_request_time_and_nothing_is_created(aws):
    response = request("deploy", "no-such-model")

    assert response.status == 404, response.body
    assert response.body["code"] == "model_not_found"
    assert "no-such-model" in response.body["detail"]
    assert aws.client("dynamodb").scan(TableName=aws.stack.tables["TasksTable"].name)["Count"] == 0
    assert aws.client("sagemaker").list_endpoints()["Endpoints"] == []
    assert endpoint_configs(aws) == set()


def test_a_model_deleted_after_the_request_fails_the_deploy_before_anything_is_created(aws, monkeypatch):
    """ProvisionGreen resolves the model before it creates green: a model gone by then fails the task with
    model_not_found straight away (no discard), blue keeps serving and the model takes a new task."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]["endpoint_name"]
    real_started = step_handler._started

    def started(progress: Any, at: Any) -> Any:
        if progress.step == "ProvisionGreen":
            aws.client("sagemaker").delete_model(ModelName=MODEL)
        return real_started(progress, at)

    monkeypatch.setattr(step_handler, "_started", started)
    created = request("deploy", MODEL)
    assert created.status == 202, created.body
    wait_for(aws, created.body["execution_arn"])
    task = read("deploy", created.body["id"]).body

    assert task["status"] == "failed"
    assert task["error"]["code"] == "model_not_found"
    assert executed_states(aws, created.body["execution_arn"])[:2] == ["ProvisionGreen", "MarkFailed"]
    assert endpoints_of(aws, MODEL) == {blue: "InService"}
    assert endpoint_configs(aws) == {_serving()["endpoint_config_name"]}
    assert _serving()["endpoint_name"] == blue
    monkeypatch.setattr(step_handler, "_started", real_started)
    register_model(aws, MODEL)
    assert run_task(aws, "deploy", MODEL)["status"] == "succeeded", "the slot was freed"


def test_a_model_deleted_before_provision_green_is_retried_discards_the_green_it_made(aws, faults, monkeypatch):
    """CreateEndpoint's answer is lost (green made) and the model deleted before the step's retry: the
    retry must not fail the task as if nothing existed. Green is discarded, then the task fails with
    model_not_found and blue keeps serving."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]["endpoint_name"]
    faults.lose_answer("sagemaker", "CreateEndpoint", "read_timeout", in_function="ProvisionGreenFunction")
    real_record_run = step_handler._record_run
    deleted: list[str] = []

    def record_run(progress: Any, *args: Any, error: str | None, **kwargs: Any) -> None:
        if progress.step == "ProvisionGreen" and error is not None and not deleted:
            aws.client("sagemaker").delete_model(ModelName=MODEL)
            deleted.append(error)
        real_record_run(progress, *args, error=error, **kwargs)

    monkeypatch.setattr(step_handler, "_record_run", record_run)
    created = request("deploy", MODEL)
    assert created.status == 202, created.body
    wait_for(aws, created.body["execution_arn"])
    task = read("deploy", created.body["id"]).body

    assert task["status"] == "failed"
    assert deleted == ["SageMakerThrottled"], "the lost answer failed the first attempt"
    assert task["error"]["code"] == "model_not_found"
    assert "DiscardGreen" in executed_states(aws, created.body["execution_arn"])
    assert endpoints_of(aws, MODEL) == {blue: "InService"}
    assert endpoint_configs(aws) == {_serving()["endpoint_config_name"]}


def test_provision_green_called_by_the_definition_before_the_fold_keeps_the_blue_it_is_given(aws):
    """An execution started before ResolveModel was folded in passes the blue it resolved: the step then
    neither starts the task again nor looks the model up (here deleted since), and creates green."""
    register_model(aws, MODEL, endpoint_status="Creating")  # the execution stays in AwaitGreen
    created = request("deploy", MODEL)
    assert created.status == 202, created.body
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + 60
    while "AwaitGreen" not in executed_states(aws, created.body["execution_arn"]):
        assert time.monotonic() < deadline, "the deploy never reached AwaitGreen"
        time.sleep(0.05)
    sfn.stop_execution(executionArn=created.body["execution_arn"])
    started = json.loads(sfn.describe_execution(executionArn=created.body["execution_arn"])["input"])
    aws.client("sagemaker").delete_model(ModelName=MODEL)
    old_event = {
        **{key: started[key] for key in ("task_id", "embedding_model_id", "deployment", "timing")},
        "progress": {"task_id": started["task_id"], "step": "ProvisionGreen"},
        "blue": None,  # `$.resolved.blue` of a first deploy
    }

    answer = aws.client("lambda").invoke(FunctionName="ProvisionGreenFunction", Payload=json.dumps(old_event))

    assert "FunctionError" not in answer, answer["Payload"].read()
    provisioned = json.loads(answer["Payload"].read())
    assert provisioned["resolved"] is None
    assert provisioned["deadline"]
    assert endpoints_of(aws, MODEL) == {started["deployment"]["green"]["endpoint_name"]: "Creating"}


def test_the_longest_model_id_gets_a_valid_endpoint_name(aws):
    model = "m" * 40 + "-" + "z" * 22
    assert len(model) == 63
    register_model(aws, model)

    task = run_task(aws, "deploy", model)

    assert task["status"] == "succeeded", task["error"]
    name = task["metadata"]["endpoint_name"]
    assert len(name) <= 63
    assert re.fullmatch(MODEL_ID_PATTERN, name)


def test_instance_type_and_count_can_be_set_per_request(aws):
    register_model(aws, MODEL)

    task = run_task(aws, "deploy", MODEL, instance_type="ml.g5.xlarge", initial_instance_count=2)

    config = aws.client("sagemaker").describe_endpoint_config(
        EndpointConfigName=task["metadata"]["endpoint_config_name"]
    )
    variant = config["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.g5.xlarge", 2)
    assert task["metadata"]["instance_type"] == "ml.g5.xlarge"


@pytest.mark.parametrize(
    "fields",
    [
        {"instance_type": "m5.large"},
        {"instance_type": "ml.M5.large"},
        {"initial_instance_count": 0},
        {"allow_dimension_change": "yes"},
    ],
)
def test_bad_deploy_overrides_are_refused(aws, fields):
    response = request("deploy", MODEL, **fields)
    assert response.status == 422
    assert response.body["errors"][0]["location"] == f"body.{next(iter(fields))}"


def test_waiting_callers_see_the_task_in_progress_until_it_ends(aws):
    register_model(aws, MODEL, endpoint_status="Creating")
    created = request("deploy", MODEL).body
    deadline = time.monotonic() + 10
    while read("deploy", created["id"]).body["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert read("deploy", created["id"]).body["status"] == "in_progress"
    aws.client("stepfunctions").stop_execution(executionArn=created["execution_arn"])
    wait_for(aws, created["execution_arn"])
