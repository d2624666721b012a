"""The fault injector does what the matrix relies on: a lost answer leaves the write applied, a
connection failure leaves it undone, a retried write answers what its second attempt met."""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from inference_deploy.adapters import aws as aws_clients
from local_stack.__main__ import main as local_stack_main
from local_stack.faults import FaultSpecError, parse_fault, parse_faults
from local_stack.lambdas import LambdaTimeouts, current_function
from local_stack.run import install_faults
from tests.component.workflow_helpers import read, run_task
from tests.conftest import register_model

TABLE_KEY = {"embedding_model_id": {"S": "fault-probe"}}


def _put(aws) -> None:
    aws_clients.dynamodb().put_item(
        TableName=aws.stack.tables["ModelsTable"].name,
        Item={**TABLE_KEY, "marker": {"S": "written"}},
        ConditionExpression="attribute_not_exists(embedding_model_id)",
    )


def _stored(aws) -> bool:
    table = aws.stack.tables["ModelsTable"].name
    return "Item" in aws.client("dynamodb").get_item(TableName=table, Key=TABLE_KEY)


def test_a_read_timeout_loses_the_answer_of_a_write_that_happened(aws, faults):
    faults.lose_answer("dynamodb", "PutItem", "read_timeout")

    with pytest.raises(ReadTimeoutError):
        _put(aws)

    assert _stored(aws)
    assert faults.plan.pending() == [], "the fault fires once"


@pytest.mark.parametrize(
    ("kind", "error"), [("connect_timeout", ConnectTimeoutError), ("connection_error", EndpointConnectionError)]
)
def test_a_connection_failure_sends_nothing(aws, faults, kind, error):
    faults.lose_answer("dynamodb", "PutItem", kind)

    with pytest.raises(error):
        _put(aws)

    assert not _stored(aws)
    _put(aws)
    assert _stored(aws)


def test_a_retried_write_answers_what_its_second_attempt_met(aws, faults):
    faults.lose_answer("dynamodb", "PutItem", "retried")

    with pytest.raises(ClientError) as raised:
        _put(aws)

    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert _stored(aws)


def test_a_retried_sagemaker_delete_answers_not_found(aws, faults):
    register_model(aws, "embed-probe")
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "embed-probe",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    aws.client("sagemaker").create_endpoint_config(EndpointConfigName="probe-config", ProductionVariants=[variant])
    faults.lose_answer("sagemaker", "DeleteEndpointConfig", "retried")

    with pytest.raises(ClientError) as raised:
        aws_clients.sagemaker().delete_endpoint_config(EndpointConfigName="probe-config")

    assert "Could not find" in raised.value.response["Error"]["Message"]
    assert aws.client("sagemaker").list_endpoint_configs()["EndpointConfigs"] == []


def test_a_fault_can_target_one_lambda_function(aws, faults):
    faults.lose_answer("dynamodb", "PutItem", "read_timeout", in_function="SwitchTrafficFunction")

    _put(aws)  # the test itself is no Lambda function: untouched

    assert current_function() is None
    assert faults.plan.pending()

    # Every step of a deploy writes its progress (UpdateItem); the fault fires in the targeted one only.
    fired_in: list[str | None] = []

    def progress_write(params: dict) -> bool:
        if not {"#cs", "#sr"} & set(params.get("ExpressionAttributeNames", {})):
            return False
        fired_in.append(current_function())
        return True

    targeted = faults.lose_answer(
        "dynamodb", "UpdateItem", "connection_error", in_function="SwitchTrafficFunction", when=progress_write
    )
    register_model(aws, "embed-probe")

    task = run_task(aws, "deploy", "embed-probe")

    assert task["status"] == "succeeded", task["error"]  # a lost progress write never fails the rollout
    assert targeted.hits == 1, "the fault fires in the function it targets"
    assert fired_in == ["SwitchTrafficFunction"], "and in no other, though every step before it wrote progress"


def test_a_lambda_can_time_out_after_its_handler_ran(aws, faults):
    faults.lambda_times_out("BeginTaskFunction")

    assert LambdaTimeouts.consume("BeginTaskFunction")
    assert not LambdaTimeouts.consume("BeginTaskFunction")


def test_faults_are_written_as_text_for_make_run():
    fault = parse_fault("dynamodb:UpdateItem:read_timeout:2@SwitchTrafficFunction")
    assert (fault.service, fault.operation, fault.kind, fault.times, fault.in_function) == (
        "dynamodb",
        "UpdateItem",
        "read_timeout",
        2,
        "SwitchTrafficFunction",
    )
    assert parse_fault("sagemaker:CreateEndpoint:error=ThrottlingException").code == "ThrottlingException"
    assert [
        f.operation for f in parse_faults("stepfunctions:StartExecution:retried, dynamodb:PutItem:connect_timeout")
    ] == [
        "StartExecution",
        "PutItem",
    ]
    for bad in ("dynamodb:UpdateItem", "dynamodb:UpdateItem:sometimes", "dynamodb:UpdateItem:retried:x"):
        with pytest.raises(FaultSpecError):
            parse_fault(bad)


def test_make_run_refuses_a_fault_it_cannot_read(capsys):
    assert local_stack_main(["run", "--fault", "dynamodb:UpdateItem:sometimes"]) == 2
    assert "kind must be one of" in capsys.readouterr().err


def test_make_run_plans_faults_on_the_service_clients(aws):
    out = io.StringIO()
    plan = install_faults(parse_faults("dynamodb:PutItem:read_timeout,lambda:BeginTaskFunction:timeout"), out)

    with pytest.raises(ReadTimeoutError):
        _put(aws)

    assert _stored(aws)
    assert plan.pending() == []
    assert LambdaTimeouts.consume("BeginTaskFunction")
    assert "fault planned: dynamodb PutItem read_timeout x1" in out.getvalue()


@pytest.mark.parametrize("kind", ["read_timeout", "connect_timeout", "connection_error"])
def test_no_answer_from_dynamodb_is_a_503_the_caller_may_retry(aws, faults, kind):
    faults.lose_answer("dynamodb", "GetItem", kind)

    response = read("deploy", "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3")

    assert response.status == 503, response.body
    assert response.body["code"] == "store_unavailable"
    assert response.headers["Retry-After"]
    assert read("deploy", "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3").status == 404
