"""The in-process emulated stack: deployment from the template, Lambda routing, Step Functions runs."""

import importlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend

from inference_deploy.environment import environment
from local_stack import EmulatedAws, invoke_function, lambdas, wait_for_execution
from local_stack.handlers import Handler

FIXTURE_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "local_stack" / "template.yaml"


@pytest.fixture
def aws() -> Iterator[EmulatedAws]:
    with EmulatedAws(FIXTURE_TEMPLATE) as emulated:
        yield emulated


def run(aws: EmulatedAws, action: str) -> tuple[dict[str, Any], str]:
    key = f"{action}-{uuid.uuid4().hex[:8]}"
    return aws.run_execution("PipelineStateMachine", {"key": key, "action": action}), key


def test_tables_are_created_with_their_indexes_and_ttl(aws: EmulatedAws) -> None:
    dynamodb = aws.client("dynamodb")

    table = dynamodb.describe_table(TableName="ItemsTable")["Table"]

    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    [index] = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "ByKind"
    assert index["KeySchema"] == [
        {"AttributeName": "kind", "KeyType": "HASH"},
        {"AttributeName": "id", "KeyType": "RANGE"},
    ]
    ttl = dynamodb.describe_time_to_live(TableName="ItemsTable")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    assert dynamodb.list_tables()["TableNames"] == ["ItemsTable"]


def test_functions_and_state_machine_exist_with_resolved_configuration(aws: EmulatedAws) -> None:
    config = aws.client("lambda").get_function(FunctionName="EchoFunction")["Configuration"]
    machine = aws.client("stepfunctions").describe_state_machine(stateMachineArn=aws.stack.arn("PipelineStateMachine"))

    assert config["FunctionArn"] == aws.stack.arn("EchoFunction")
    assert (config["Timeout"], config["MemorySize"]) == (5, 256)
    assert config["Environment"]["Variables"]["GREETING"] == "hello from us-east-1"
    assert aws.stack.arn("StepsFunction") in machine["definition"]


def test_emulator_publishes_the_functions_environment_for_its_lifetime() -> None:
    before = os.environ.get("ITEMS_TABLE_NAME")

    with EmulatedAws(FIXTURE_TEMPLATE, name_prefix="env-"):
        assert os.environ["ITEMS_TABLE_NAME"] == "env-ItemsTable"
        assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"

    assert os.environ.get("ITEMS_TABLE_NAME") == before


def test_an_endpoint_url_in_the_shell_does_not_escape_the_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    with EmulatedAws(FIXTURE_TEMPLATE) as aws:
        assert aws.run_execution("PipelineStateMachine", {"key": "shell", "action": "ok"})["status"] == "SUCCEEDED"

    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"


def test_state_machine_runs_the_handlers_in_process_to_success(aws: EmulatedAws) -> None:
    execution, key = run(aws, "ok")

    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    echo = output["echo"]["result"]
    assert echo["greeting"] == "hello from us-east-1"
    assert echo["stored"] == {"id": key, "kind": "echo"}
    assert echo["function_name"] == "EchoFunction"
    assert echo["memory_limit_in_mb"] == 256
    assert echo["log_group_name"] == "EchoLogGroup"
    assert 0 < echo["remaining_ms"] <= 5000
    assert output["step"] == {"attempts": 1, "action": "ok"}
    item = aws.client("dynamodb").get_item(TableName="ItemsTable", Key={"id": {"S": key}})["Item"]
    assert item["kind"] == {"S": "echo"}


def test_concurrent_executions_each_run_their_own_handlers(aws: EmulatedAws) -> None:
    sfn = aws.client("stepfunctions")
    keys = [f"parallel-{index}-{uuid.uuid4().hex[:6]}" for index in range(6)]

    arns = [
        sfn.start_execution(
            stateMachineArn=aws.stack.arn("PipelineStateMachine"),
            name=key,
            input=json.dumps({"key": key, "action": "ok"}),
        )["executionArn"]
        for key in keys
    ]
    outputs = [json.loads(wait_for_execution(sfn, arn)["output"]) for arn in arns]

    assert [output["echo"]["result"]["stored"]["id"] for output in outputs] == keys
    assert all(output["step"]["attempts"] == 1 for output in outputs)


def test_catch_matches_the_handler_exception_class_name(aws: EmulatedAws) -> None:
    execution, key = run(aws, "reject")

    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["outcome"] == "rejected"
    assert output["error"]["Error"] == "ModelRejectedError"
    cause = json.loads(output["error"]["Cause"])
    assert cause["errorType"] == "ModelRejectedError"
    assert cause["errorMessage"] == f"model {key} rejected"
    assert "step" not in output


def test_retry_reinvokes_the_handler(aws: EmulatedAws) -> None:
    execution, key = run(aws, "flaky")

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["step"] == {"attempts": 2, "action": "flaky"}
    assert importlib.import_module("ls_fixture_steps.app").ATTEMPTS[key] == 2


def test_uncaught_handler_error_fails_the_execution_with_its_type(aws: EmulatedAws) -> None:
    execution, _ = run(aws, "crash")

    assert execution["status"] == "FAILED"
    assert execution["error"] == "ValueError"
    assert json.loads(execution["cause"])["errorMessage"] == "unexpected"


def test_direct_invoke_of_a_failing_handler_returns_lambdas_error_shape(aws: EmulatedAws) -> None:
    response = aws.client("lambda").invoke(
        FunctionName="StepsFunction", Payload=json.dumps({"key": uuid.uuid4().hex, "action": "reject"})
    )

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "ModelRejectedError"
    assert payload["errorMessage"].startswith("model ")
    assert payload["stackTrace"]
    assert "ls_fixture_steps/app.py" in payload["stackTrace"][0]


def test_direct_invoke_by_arn_returns_the_handler_result(aws: EmulatedAws) -> None:
    response = aws.client("lambda").invoke(
        FunctionName=aws.stack.arn("StepsFunction"), Payload=json.dumps({"key": uuid.uuid4().hex, "action": "ok"})
    )

    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"attempts": 1, "action": "ok"}


def test_event_invocations_run_the_handler_in_the_background(aws: EmulatedAws) -> None:
    key = uuid.uuid4().hex
    dynamodb = aws.client("dynamodb")

    response = aws.client("lambda").invoke(
        FunctionName="EchoFunction", InvocationType="Event", Payload=json.dumps({"key": key})
    )

    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 5
    while "Item" not in dynamodb.get_item(TableName="ItemsTable", Key={"id": {"S": key}}):
        assert time.monotonic() < deadline, "the background invocation never wrote its item"
        time.sleep(0.02)


def test_dry_run_does_not_run_the_handler(aws: EmulatedAws) -> None:
    key = uuid.uuid4().hex

    response = aws.client("lambda").invoke(
        FunctionName="StepsFunction", InvocationType="DryRun", Payload=json.dumps({"key": key, "action": "ok"})
    )

    assert response["StatusCode"] == 204
    assert key not in importlib.import_module("ls_fixture_steps.app").ATTEMPTS


def test_functions_outside_the_stack_keep_motos_behaviour(aws: EmulatedAws) -> None:
    client = aws.client("lambda")
    client.create_function(
        FunctionName="Outsider",
        Runtime="python3.13",
        Role=aws.stack.role_arn,
        Handler="app.handler",
        Code={"ZipFile": b"not used"},
    )

    response = client.invoke(FunctionName="Outsider", Payload=b'{"hello": "moto"}')

    assert json.loads(response["Payload"].read()) == {"hello": "moto"}


def test_tests_and_emulator_share_handler_modules(aws: EmulatedAws) -> None:
    module = importlib.import_module("ls_fixture_echo.app")

    assert aws.stack.handler("EchoFunction") is module.lambda_handler


def test_stopping_restores_motos_lambda_backend() -> None:
    original = LambdaSimpleBackend.invoke

    with EmulatedAws(FIXTURE_TEMPLATE):
        assert LambdaSimpleBackend.invoke is not original

    assert LambdaSimpleBackend.invoke is original


@dataclass(frozen=True)
class FakeFunction:
    handler: Handler
    timeout: int = 3
    name: str = "Fake"
    arn: str = "arn:aws:lambda:us-east-1:123456789012:function:Fake"
    memory_size: int = 128
    log_group_name: str = "/aws/lambda/Fake"
    environment: Mapping[str, str] = field(default_factory=dict)

    def load_handler(self) -> Handler:
        return self.handler


def test_a_handler_outliving_its_timeout_reports_lambdas_timeout_error() -> None:
    result = invoke_function(FakeFunction(lambda event, context: event, timeout=0), {})

    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "Sandbox.Timedout"


def test_an_unserialisable_result_is_a_marshal_error() -> None:
    result = invoke_function(FakeFunction(lambda event, context: object()), {})

    assert json.loads(result.payload)["errorType"] == "Runtime.MarshalError"


def test_an_unimportable_handler_is_an_import_module_error() -> None:
    @dataclass(frozen=True)
    class Broken(FakeFunction):
        def load_handler(self) -> Handler:
            raise ModuleNotFoundError("No module named 'nowhere'")

    result = invoke_function(Broken(lambda event, context: None), {})

    assert json.loads(result.payload)["errorType"] == "Runtime.ImportModuleError"


def test_a_routed_handler_sees_only_the_variables_the_template_gives_its_function(
    aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = aws.stack.function("StepsFunction")
    names = ("GREETING", "ITEMS_TABLE_NAME", "STAGE", "AWS_REGION")

    def report(event: Any, context: Any) -> dict[str, Any]:
        variables = environment()  # what the service's settings loader reads
        return {
            "seen": {name: variables.get(name) for name in names},
            "listed": sorted(set(variables) & set(names)),
            "in": "GREETING" in variables,
        }

    routed = FakeFunction(report, name=steps.name, arn=steps.arn, environment=steps.environment)
    monkeypatch.setitem(lambdas._registry, steps.arn, routed)
    answer = json.loads(aws.client("lambda").invoke(FunctionName=steps.name)["Payload"].read())

    assert os.environ["GREETING"] == "hello from us-east-1", "the test process holds every function's variables"
    assert environment() is os.environ, "outside an invocation the service reads the process environment"
    assert answer == {
        "seen": {"GREETING": None, "ITEMS_TABLE_NAME": "ItemsTable", "STAGE": "test", "AWS_REGION": "us-east-1"},
        "listed": ["AWS_REGION", "ITEMS_TABLE_NAME", "STAGE"],
        "in": False,
    }


def test_concurrent_invocations_each_see_their_own_functions_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Step Functions workers and server threads invoke functions at once: the variables follow the
    invocation (a context variable), not the process, and os.environ itself is left as it is."""
    monkeypatch.setenv("SHARED", "process")
    inside = threading.Barrier(2, timeout=30)

    def report(event: Any, context: Any) -> dict[str, Any]:
        inside.wait()  # both invocations are running before either reads
        variables = environment()
        return {"name": variables.get("NAME"), "shared": variables.get("SHARED")}

    first, second = (
        FakeFunction(
            report, name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}", environment={"NAME": name}
        )
        for name in ("First", "Second")
    )
    with lambdas.LambdaRouter([first, second]), ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda function: json.loads(invoke_function(function, {}).payload), (first, second)))

    assert answers == [{"name": "First", "shared": "process"}, {"name": "Second", "shared": "process"}]


def test_busy_execution_environments_are_separate_imports_and_idle_ones_are_reused(aws: EmulatedAws) -> None:
    """As Lambda: a request finding every environment busy gets a new one (its own module state)."""
    environments = lambdas.ExecutionEnvironments(aws.stack.functions["EchoFunction"])

    with environments.environment() as first, environments.environment() as second:
        busy = environments.loader(first)(), environments.loader(second)()
        answer = environments.invoke({"key": "while-both-are-busy"})
    with environments.environment() as idle:
        reused = environments.loader(idle)()

    shared = importlib.import_module("ls_fixture_echo.app").lambda_handler
    assert busy[0] is shared  # the module tests import and monkeypatch is the first environment's
    assert busy[1] is not shared
    assert busy[1].__module__ != shared.__module__
    assert json.loads(answer.payload)["stored"]["id"] == "while-both-are-busy"
    assert answer.function_error is None
    assert environments.created == 3
    assert reused in (*busy, environments.loader(2)())
