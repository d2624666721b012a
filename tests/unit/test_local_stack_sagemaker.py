"""SageMaker endpoint emulation: deterministic embeddings and statuses steered by the model's environment."""

import json
import math
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from local_stack import SageMakerEmulator
from local_stack.embeddings import InvalidInput, embed, parse_inputs

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


class Endpoints:
    def __init__(self) -> None:
        self.sagemaker: Any = boto3.client("sagemaker", region_name=REGION)
        self.runtime: Any = boto3.client("sagemaker-runtime", region_name=REGION)

    def create(self, name: str, **environment: str) -> None:
        self.sagemaker.create_model(
            ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "embedder:1", "Environment": environment}
        )
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.g5.xlarge",
                }
            ],
        )
        self.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)

    def status(self, name: str) -> dict[str, Any]:
        description: dict[str, Any] = self.sagemaker.describe_endpoint(EndpointName=name)
        return description

    def invoke_raw(self, name: str, body: Any) -> str:
        response = self.runtime.invoke_endpoint(
            EndpointName=name, Body=json.dumps(body), ContentType="application/json"
        )
        assert response["ContentType"] == "application/json"
        answer: bytes = response["Body"].read()
        return answer.decode()

    def invoke(self, name: str, *texts: str) -> Any:
        return json.loads(self.invoke_raw(name, {"inputs": list(texts)}))


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    with mock_aws(), SageMakerEmulator():
        yield Endpoints()


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(value * value for value in vector))


def test_embeddings_are_deterministic_unit_vectors() -> None:
    first, again, other = embed("hello", 16), embed("hello", 16), embed("world", 16)

    assert first == again
    assert first != other
    assert len(first) == 16
    assert norm(first) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("body", "texts"),
    [
        ({"inputs": ["a", "b"]}, ["a", "b"]),
        ({"inputs": "a"}, ["a"]),
        ({"text_inputs": ["a"]}, ["a"]),
    ],
)
def test_accepted_input_documents(body: dict[str, Any], texts: list[str]) -> None:
    assert parse_inputs(json.dumps(body)) == texts


@pytest.mark.parametrize("body", ["not json", "[]", '{"inputs": []}', '{"inputs": [1]}', '{"other": "x"}'])
def test_rejected_input_documents(body: str) -> None:
    with pytest.raises(InvalidInput):
        parse_inputs(body)


def test_endpoint_answers_one_unit_vector_per_input(endpoints: Endpoints) -> None:
    endpoints.create("default")

    vectors = endpoints.invoke("default", "alpha", "beta")

    assert [len(vector) for vector in vectors] == [384, 384]
    assert all(norm(vector) == pytest.approx(1.0) for vector in vectors)
    assert vectors[0] != vectors[1]
    assert endpoints.invoke("default", "beta") == [vectors[1]]
    assert endpoints.status("default")["EndpointStatus"] == "InService"


def test_dimension_comes_from_the_models_environment(endpoints: Endpoints) -> None:
    endpoints.create("small", EMULATOR_EMBEDDING_DIMENSION="8")
    endpoints.create("other", EMULATOR_EMBEDDING_DIMENSION="8")

    [vector] = endpoints.invoke("small", "same text")

    assert len(vector) == 8
    assert endpoints.invoke("other", "same text") == [vector]
    assert endpoints.invoke_raw("small", {"text_inputs": ["same text"]}) == json.dumps([vector])


def test_response_shapes(endpoints: Endpoints) -> None:
    endpoints.create("plural", EMULATOR_RESPONSE_SHAPE="embeddings", EMULATOR_EMBEDDING_DIMENSION="4")
    endpoints.create("single", EMULATOR_RESPONSE_SHAPE="embedding", EMULATOR_EMBEDDING_DIMENSION="4")

    assert endpoints.invoke("plural", "a") == {"embeddings": [embed("a", 4)]}
    assert endpoints.invoke("single", "a") == {"embedding": embed("a", 4)}


def test_degraded_responses(endpoints: Endpoints) -> None:
    endpoints.create("nan", EMULATOR_RESPONSE="nan", EMULATOR_EMBEDDING_DIMENSION="4")
    endpoints.create("zeros", EMULATOR_RESPONSE="zeros", EMULATOR_EMBEDDING_DIMENSION="4")
    endpoints.create("ragged", EMULATOR_RESPONSE="ragged", EMULATOR_EMBEDDING_DIMENSION="4")
    endpoints.create("garbage", EMULATOR_RESPONSE="invalid_json")

    assert all(math.isnan(value) for value in endpoints.invoke("nan", "a")[0])
    assert endpoints.invoke("zeros", "a", "b") == [[0.0] * 4, [0.0] * 4]
    assert [len(vector) for vector in endpoints.invoke("ragged", "a", "b")] == [3, 2]
    with pytest.raises(json.JSONDecodeError):
        json.loads(endpoints.invoke_raw("garbage", {"inputs": ["a"]}))


def test_error_response_is_a_model_error(endpoints: Endpoints) -> None:
    endpoints.create("broken", EMULATOR_RESPONSE="error")

    with pytest.raises(ClientError) as raised:
        endpoints.invoke("broken", "a")

    error: dict[str, Any] = dict(raised.value.response)
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 500


def test_unreadable_request_is_a_client_model_error(endpoints: Endpoints) -> None:
    endpoints.create("strict")

    with pytest.raises(ClientError) as raised:
        endpoints.invoke_raw("strict", {"wrong": "shape"})

    assert raised.value.response["Error"]["Code"] == "ModelError"
    assert dict(raised.value.response)["OriginalStatusCode"] == 400


def test_failed_endpoint_reports_its_reason_and_refuses_invocations(endpoints: Endpoints) -> None:
    endpoints.create("failed", EMULATOR_ENDPOINT_STATUS="Failed", EMULATOR_FAILURE_REASON="image not found")

    description = endpoints.status("failed")

    assert (description["EndpointStatus"], description["FailureReason"]) == ("Failed", "image not found")
    with pytest.raises(endpoints.runtime.exceptions.ValidationError):
        endpoints.invoke("failed", "a")


def test_creating_endpoint_never_becomes_ready(endpoints: Endpoints) -> None:
    endpoints.create("stuck", EMULATOR_ENDPOINT_STATUS="Creating")

    assert {endpoints.status("stuck")["EndpointStatus"] for _ in range(5)} == {"Creating"}
    with pytest.raises(endpoints.runtime.exceptions.ValidationError):
        endpoints.invoke("stuck", "a")


def test_creating_polls_delay_the_final_status(endpoints: Endpoints) -> None:
    endpoints.create("slow", EMULATOR_CREATING_POLLS="2")
    endpoints.create("slow-failure", EMULATOR_CREATING_POLLS="1", EMULATOR_ENDPOINT_STATUS="Failed")

    assert [endpoints.status("slow")["EndpointStatus"] for _ in range(4)] == [
        "Creating",
        "Creating",
        "InService",
        "InService",
    ]
    assert [endpoints.status("slow-failure")["EndpointStatus"] for _ in range(2)] == ["Creating", "Failed"]
    assert len(endpoints.invoke("slow", "a")) == 1


def test_invalid_emulator_settings_fail_create_endpoint(endpoints: Endpoints) -> None:
    with pytest.raises(ClientError, match="EMULATOR_RESPONSE"):
        endpoints.create("typo", EMULATOR_RESPONSE="embedings")


def test_instance_types_are_checked_against_the_current_api(endpoints: Endpoints) -> None:
    endpoints.sagemaker.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "embedder:1"})
    for current in ("ml.g5.xlarge", "ml.inf2.xlarge"):  # newer than moto's own list
        endpoints.sagemaker.create_endpoint_config(
            EndpointConfigName=f"c-{current.replace('.', '-')}",
            ProductionVariants=[{"VariantName": "v", "ModelName": "m", "InstanceType": current}],
        )

    with pytest.raises(ClientError, match="instanceType"):
        endpoints.sagemaker.create_endpoint_config(
            EndpointConfigName="c",
            ProductionVariants=[{"VariantName": "v", "ModelName": "m", "InstanceType": "ml.imaginary.xlarge"}],
        )


def test_unknown_endpoint_is_a_validation_error(endpoints: Endpoints) -> None:
    with pytest.raises(endpoints.runtime.exceptions.ValidationError, match="not found"):
        endpoints.invoke("missing", "a")


def test_stopping_restores_motos_sagemaker_runtime() -> None:
    original = SageMakerRuntimeResponse.invoke_endpoint

    with SageMakerEmulator():
        assert SageMakerRuntimeResponse.invoke_endpoint is not original

    assert SageMakerRuntimeResponse.invoke_endpoint is original


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating", "RollingBack"])
def test_an_endpoint_cannot_be_deleted_while_an_operation_runs_on_it(endpoints: Endpoints, status: str) -> None:
    endpoints.create("busy", EMULATOR_ENDPOINT_STATUS=status)

    with pytest.raises(ClientError) as raised:
        endpoints.sagemaker.delete_endpoint(EndpointName="busy")

    code, message = error_of(raised)
    assert code == "ValidationException"
    assert status in message
    assert endpoints.status("busy")["EndpointStatus"] == status


def test_a_stuck_endpoint_can_be_deleted_once_it_turns_failed(endpoints: Endpoints) -> None:
    endpoints.create("stuck", EMULATOR_CREATING_POLLS="2", EMULATOR_ENDPOINT_STATUS="Failed")

    with pytest.raises(ClientError):
        endpoints.sagemaker.delete_endpoint(EndpointName="stuck")
    statuses = [endpoints.status("stuck")["EndpointStatus"] for _ in range(3)]
    endpoints.sagemaker.delete_endpoint(EndpointName="stuck")

    assert statuses == ["Creating", "Creating", "Failed"]


def test_a_deleted_endpoint_shows_deleting_then_is_not_found(endpoints: Endpoints) -> None:
    endpoints.create("going", EMULATOR_DELETING_POLLS="2")

    endpoints.sagemaker.delete_endpoint(EndpointName="going")

    listed = endpoints.sagemaker.list_endpoints()["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in listed] == [("going", "Deleting")]
    assert endpoints.status("going")["EndpointStatus"] == "Deleting"
    with pytest.raises(ClientError) as raised:
        endpoints.status("going")
    assert error_of(raised) == (
        "ValidationException",
        'Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/going".',
    )
    assert endpoints.sagemaker.list_endpoints()["Endpoints"] == []
    with pytest.raises(endpoints.runtime.exceptions.ValidationError):
        endpoints.invoke("going", "a")


def test_the_tags_of_an_endpoint_gone_since_it_was_listed_are_not_found(endpoints: Endpoints) -> None:
    endpoints.create("listed")
    arn = endpoints.sagemaker.list_endpoints()["Endpoints"][0]["EndpointArn"]
    endpoints.sagemaker.delete_endpoint(EndpointName="listed")
    assert endpoints.status("listed")["EndpointStatus"] == "Deleting"  # its one observation as Deleting
    assert endpoints.sagemaker.list_endpoints()["Endpoints"] == []

    with pytest.raises(ClientError) as raised:
        endpoints.sagemaker.list_tags(ResourceArn=arn)
    assert error_of(raised) == ("ValidationException", f'Could not find resource "{arn}".')


def test_deleting_is_shown_once_by_default_and_a_second_delete_is_refused(endpoints: Endpoints) -> None:
    endpoints.create("once")
    endpoints.sagemaker.delete_endpoint(EndpointName="once")

    with pytest.raises(ClientError, match="Deleting"):
        endpoints.sagemaker.delete_endpoint(EndpointName="once")
    assert endpoints.status("once")["EndpointStatus"] == "Deleting"
    with pytest.raises(ClientError, match="Could not find endpoint"):
        endpoints.status("once")
    with pytest.raises(ClientError, match="Could not find endpoint"):
        endpoints.sagemaker.delete_endpoint(EndpointName="once")


def test_describe_right_after_create_may_not_find_the_resources(endpoints: Endpoints) -> None:
    endpoints.create("late", EMULATOR_DESCRIBE_MISSES="2")

    for _ in range(2):
        with pytest.raises(ClientError, match=r'Could not find endpoint configuration ".*endpoint-config/late"'):
            endpoints.sagemaker.describe_endpoint_config(EndpointConfigName="late")
        with pytest.raises(ClientError, match=r'Could not find endpoint ".*endpoint/late"'):
            endpoints.status("late")

    assert endpoints.sagemaker.describe_endpoint_config(EndpointConfigName="late")["EndpointConfigName"] == "late"
    assert endpoints.status("late")["EndpointStatus"] == "InService"


def test_names_are_case_insensitive(endpoints: Endpoints) -> None:
    endpoints.create("embed-a")

    with pytest.raises(ClientError) as raised:
        endpoints.sagemaker.create_endpoint_config(
            EndpointConfigName="Embed-A",
            ProductionVariants=[
                {"VariantName": "v", "ModelName": "embed-a", "InitialInstanceCount": 1, "InstanceType": "ml.m5.xlarge"}
            ],
        )
    assert error_of(raised)[0] == "ValidationException"
    assert "Cannot create already existing endpoint configuration" in error_of(raised)[1]
    with pytest.raises(ClientError, match="Cannot create already existing endpoint "):
        endpoints.sagemaker.create_endpoint(EndpointName="EMBED-a", EndpointConfigName="embed-A")
    assert endpoints.status("Embed-A")["EndpointName"] == "embed-a"
    assert endpoints.sagemaker.describe_endpoint_config(EndpointConfigName="eMBED-a")["EndpointConfigName"] == "embed-a"
    endpoints.sagemaker.delete_endpoint_config(EndpointConfigName="EMBED-A")
    assert endpoints.sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
