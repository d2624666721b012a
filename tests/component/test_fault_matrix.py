"""Every write the service makes, in every step, committed and then its answer lost (or never sent),
and every step's Lambda timing out after its handler ran: whatever happens, the task ends in a status
that is true, no endpoint is left that nothing owns, and the model's slot is free.

"True" means: a deploy that succeeded is what the serving record names and green is up (blue gone);
a deploy that failed left the serving record where it was and green gone; a delete that succeeded left
no serving record and no endpoint, one that failed left the model served by a live endpoint.

Each row runs the real ASL on moto, in one emulated stack per module (each row deploys its own model,
so rows share nothing but the stack). An execution that ends without its MarkSucceeded/MarkFailed gets
the "Execution Status Change" event EventBridge would deliver (moto does not deliver it)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from finish_abandoned_task.app import lambda_handler as finish_abandoned_handler

from inference_deploy import dependencies
from inference_deploy.adapters import aws as aws_clients
from inference_deploy.naming import green_endpoint, name_prefix, resource_tags
from local_stack.emulator import EmulatedAws
from local_stack.faults import Fault, FaultKind
from local_stack.lambdas import LambdaTimeouts
from local_stack.run_config import create_sample_caller
from tests.component.test_bake_and_cancel import _cancel, _waiting_for_green
from tests.component.workflow_helpers import (
    caller_alarm,
    endpoint_configs,
    endpoints_of,
    read,
    repair_of,
    repairs_started,
    request,
)
from tests.conftest import TEMPLATE, TEST_PARAMETERS, LambdaContext, load_event, register_model, wait_for

pytestmark = pytest.mark.slow  # dozens of whole workflows, each with a fault

_MODEL_NUMBERS = itertools.count(1)
# connection_error behaves as connect_timeout for the service (nothing sent, a BotoCoreError); the
# injector test proves both.
LOST: tuple[FaultKind, ...] = ("read_timeout", "retried", "connect_timeout")


@dataclass(frozen=True)
class Row:
    scenario: str  # deploy (over a blue), failing_deploy (green answers NaN), delete
    function: str  # the step's Lambda, by logical id; CreateTaskFunction is the API
    service: str
    operation: str


ROWS = [
    Row("deploy", "CreateTaskFunction", "dynamodb", "TransactWriteItems"),
    Row("deploy", "CreateTaskFunction", "stepfunctions", "StartExecution"),
    Row("deploy", "ProvisionGreenFunction", "dynamodb", "UpdateItem"),  # marks the task in_progress
    Row("deploy", "ProvisionGreenFunction", "sagemaker", "CreateEndpointConfig"),
    Row("deploy", "ProvisionGreenFunction", "sagemaker", "CreateEndpoint"),
    Row("deploy", "CheckGreenFunction", "dynamodb", "UpdateItem"),  # the green wait's token, stored
    Row("deploy", "SwitchTrafficFunction", "dynamodb", "TransactWriteItems"),
    Row("deploy", "DeleteEndpointFunction", "sagemaker", "DeleteEndpoint"),
    Row("deploy", "DeleteEndpointFunction", "sagemaker", "DeleteEndpointConfig"),
    Row("deploy", "DeleteEndpointFunction", "dynamodb", "TransactWriteItems"),  # RetireBlue ends the task
    Row("failing_deploy", "DiscardGreenFunction", "sagemaker", "DeleteEndpoint"),
    Row("failing_deploy", "DiscardGreenFunction", "sagemaker", "DeleteEndpointConfig"),
    Row("failing_deploy", "FinishTaskFunction", "dynamodb", "TransactWriteItems"),
    Row("delete", "CreateTaskFunction", "dynamodb", "TransactWriteItems"),
    Row("delete", "BeginTaskFunction", "dynamodb", "UpdateItem"),
    Row("delete", "UnrouteModelFunction", "dynamodb", "UpdateItem"),
    Row("delete", "SweepModelEndpointsFunction", "sagemaker", "DeleteEndpoint"),
    Row("delete", "SweepModelEndpointsFunction", "sagemaker", "DeleteEndpointConfig"),
    Row("delete", "FinishTaskFunction", "dynamodb", "TransactWriteItems"),
]

TIMEOUT_ROWS = [
    ("deploy", "ProvisionGreenFunction"),
    ("deploy", "CheckGreenFunction"),
    ("deploy", "PrepareGreenFunction"),
    ("deploy", "SwitchTrafficFunction"),
    ("deploy", "DeleteEndpointFunction"),  # after it ended the task: MarkSucceeded finds it ended
    ("failing_deploy", "DiscardGreenFunction"),
    ("failing_deploy", "FinishTaskFunction"),
    ("delete", "BeginTaskFunction"),
    ("delete", "UnrouteModelFunction"),
    ("delete", "SweepModelEndpointsFunction"),
    ("delete", "FinishTaskFunction"),
]

# Rows that stay false until a fix in another branch lands (the lead removes the marker after merging).
XFAIL: dict[str, str] = {}


@pytest.fixture(scope="module")
def _stack() -> Iterator[EmulatedAws]:
    with EmulatedAws(TEMPLATE, parameters=TEST_PARAMETERS) as emulated:
        create_sample_caller(emulated.client("iam"), emulated.stack.account_id)
        dependencies.reset()
        yield emulated
    dependencies.reset()


@pytest.fixture
def aws(_stack: EmulatedAws) -> EmulatedAws:
    return _stack


@pytest.fixture
def model() -> str:
    return f"embed-matrix-{next(_MODEL_NUMBERS)}"


def _params(rows: list[Row]) -> list[Any]:
    out = []
    for row in rows:
        for kind in LOST:
            row_id = f"{row.scenario}-{row.function}-{row.operation}-{kind}"
            marks = [pytest.mark.xfail(strict=True, reason=XFAIL[row_id])] if row_id in XFAIL else []
            out.append(pytest.param(row, kind, id=row_id, marks=marks))
    return out


def _route(scenario: str) -> str:
    return "delete" if scenario == "delete" else "deploy"


def _prepare(aws, model: str, scenario: str) -> None:
    """A model served by a blue endpoint as the service leaves one (named and tagged by a deploy task,
    InService, named by the serving record); for a failing deploy, a model whose next endpoints answer
    NaN (the smoke test fails and green is discarded)."""
    register_model(aws, model)
    blue_task = "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3"
    blue = green_endpoint(model, blue_task)
    sagemaker = aws.client("sagemaker")
    target = aws.stack.function("SweepModelEndpointsFunction").environment["DEPLOYMENT_TARGET"]
    tags = [{"Key": k, "Value": v} for k, v in resource_tags(model, blue_task, target).items()]
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sagemaker.create_endpoint_config(
        EndpointConfigName=blue.endpoint_config_name, ProductionVariants=[variant], Tags=tags
    )
    sagemaker.create_endpoint(EndpointName=blue.endpoint_name, EndpointConfigName=blue.endpoint_config_name, Tags=tags)
    aws.client("dynamodb").put_item(
        TableName=aws.stack.tables["ModelsTable"].name,
        Item={
            "embedding_model_id": {"S": model},
            "serving": {
                "M": {
                    "endpoint_name": {"S": blue.endpoint_name},
                    "endpoint_config_name": {"S": blue.endpoint_config_name},
                    "task_id": {"S": blue_task},
                    "embedding_dimension": {"N": "384"},
                    "since": {"S": "2026-11-26T20:00:00Z"},
                }
            },
        },
    )
    if scenario == "failing_deploy":
        register_model(aws, model, response="nan")


def _deliver_status_change(aws: EmulatedAws, execution: dict[str, Any]) -> None:
    """What EventBridge would deliver for an execution that ended without finishing its task; the
    handler starts the task's repair, whose end is the task's end, so wait for it too."""
    if execution["status"] in ("SUCCEEDED", "RUNNING"):
        return
    event = load_event("execution_status_change")
    event["detail"].update(
        executionArn=execution["executionArn"],
        name=execution["name"],
        status=execution["status"],
        error=execution.get("error"),
        cause=execution.get("cause"),
    )
    finish_abandoned_handler(event, LambdaContext())
    if execution["name"] in repairs_started(aws):
        wait_for(aws, repair_of(aws, execution["name"]), timeout=120)


def _run(aws, model: str, route: str, **fields: Any) -> dict[str, Any]:
    """POST the task as a client would: once, and again (same body) if the first answer was an error
    that says to retry. Returns the task the caller ends up with, after its execution ended."""
    created = request(route, model, **fields)
    if created.status in (500, 503):
        created = request(route, model, **fields)
    assert created.status == 202, created.body
    execution = wait_for(aws, created.body["execution_arn"], timeout=120)
    _deliver_status_change(aws, execution)
    return read(route, created.body["id"]).body


def _assert_true(aws, model: str, route: str, task: dict[str, Any]) -> None:
    assert task["status"] in ("succeeded", "failed", "cancelled"), task
    served = read("models", model)
    record = served.body if served.status == 200 else None
    live = {name for name, status in endpoints_of(aws, model).items() if status != "Deleting"}
    owned = {record["endpoint_name"]} if record else set()
    assert live == owned, f"endpoints {live} but the serving record names {owned} (task {task['status']})"
    configs = {name for name in endpoint_configs(aws) if name.startswith(name_prefix(model))}
    assert configs == ({record["endpoint_config_name"]} if record else set())
    if route == "deploy":
        green = task["metadata"]["endpoint_name"]
        if task["status"] == "succeeded":
            assert record is not None, "succeeded, but nothing serves"
            assert record["endpoint_name"] == green, "succeeded, but green does not serve"
        elif task["error"] is None or task["error"]["code"] not in KEPT_GREEN:
            assert record is None or record["endpoint_name"] != green, f"{task['status']}, but green serves"
    else:
        assert (record is None) == (task["status"] == "succeeded"), f"delete {task['status']} but record {record}"
    assert _slot_free(aws, model), "the model's slot is still held"
    assert not _tasks_left_active(aws, model), "a task of the model is still pending or in progress"


def _slot_free(aws, model: str) -> bool:
    item = aws.client("dynamodb").get_item(
        TableName=aws.stack.tables["ModelsTable"].name, Key={"embedding_model_id": {"S": model}}
    )
    return "active_task" not in item.get("Item", {})


def _tasks_left_active(aws, model: str) -> list[str]:
    items = aws.client("dynamodb").scan(TableName=aws.stack.tables["TasksTable"].name)["Items"]
    return [
        i["id"]["S"]
        for i in items
        if i["embedding_model_id"]["S"] == model and i["status"]["S"] in ("pending", "in_progress", "cancelling")
    ]


def _writes_of(row: Row) -> dict[str, Any]:
    if row.function == "CreateTaskFunction":
        return {}  # the API handler runs in the test's thread, outside the Lambda router
    return {"in_function": row.function}


@pytest.mark.parametrize(("row", "kind"), _params(ROWS))
def test_a_write_whose_answer_is_lost_leaves_a_true_task(aws, faults, model, row, kind):
    _prepare(aws, model, row.scenario)
    fault = faults.lose_answer(row.service, row.operation, kind, **_writes_of(row))

    task = _run(aws, model, _route(row.scenario))

    assert fault.hits == 1, "the fault never fired: the row tests nothing"
    _assert_true(aws, model, _route(row.scenario), task)


@pytest.mark.parametrize(("scenario", "function"), TIMEOUT_ROWS, ids=[f"{s}-{f}" for s, f in TIMEOUT_ROWS])
def test_a_step_that_times_out_after_its_side_effect_leaves_a_true_task(aws, faults, model, scenario, function):
    _prepare(aws, model, scenario)
    faults.lambda_times_out(function)

    task = _run(aws, model, _route(scenario))

    assert LambdaTimeouts.pending(function) == 0, "the step never ran: the row tests nothing"
    _assert_true(aws, model, _route(scenario), task)


# ---------------------------------------------------------------- the endings' own calls, failing

# Failures that end a task with green kept on purpose (blue could not take traffic again): still true.
KEPT_GREEN = {"alarm_during_bake", "cancel_not_honoured", "bake_check_failed"}
FAILURES = ("throttled", "connect_timeout", "read_timeout")
USER_ALARM = "matrix-user-alarm"


@dataclass(frozen=True)
class EndingRow:
    scenario: str  # failing_deploy (green discarded), rollback (an alarm trips the bake), bake (it passes), delete
    function: str
    service: str
    operation: str


ENDING_ROWS = [
    EndingRow("failing_deploy", "DiscardGreenFunction", "sagemaker", "DescribeEndpoint"),
    EndingRow("rollback", "CheckBakeFunction", "cloudwatch", "DescribeAlarms"),
    EndingRow("rollback", "RollBackFunction", "sagemaker", "DescribeEndpoint"),
    EndingRow("rollback", "FinishTaskFunction", "cloudwatch", "DeleteAlarms"),
    EndingRow("bake", "CheckBakeFunction", "cloudwatch", "DescribeAlarms"),
    EndingRow("bake", "DeleteEndpointFunction", "cloudwatch", "GetMetricData"),
    EndingRow("bake", "DeleteEndpointFunction", "cloudwatch", "DeleteAlarms"),  # RetireBlue ends the task
    EndingRow("delete", "SweepModelEndpointsFunction", "sagemaker", "DescribeEndpoint"),
]


def _tripped_alarm(aws: EmulatedAws) -> str:
    """A caller's alarm already in ALARM: the bake's first check rolls back."""
    return caller_alarm(aws, USER_ALARM, in_alarm=True)


def _fields(aws: EmulatedAws, scenario: str) -> dict[str, Any]:
    if scenario == "rollback":
        return {"bake_seconds": 3600, "rollback_alarms": [_tripped_alarm(aws)]}
    if scenario == "bake":
        return {"bake_seconds": 1, "green_alarms": True}  # alarms on green: each of the bake's calls is made
    return {}


def _ending_params() -> list[Any]:
    return [
        pytest.param(row, failure, id=f"{row.scenario}-{row.function}-{row.operation}-{failure}")
        for row in ENDING_ROWS
        for failure in FAILURES
    ]


@pytest.mark.parametrize(("row", "failure"), _ending_params())
def test_a_call_an_ending_makes_failing_still_leaves_a_true_task(aws, faults, model, row, failure):
    """DescribeEndpoint, DescribeAlarms, GetMetricData and DeleteAlarms, made by the steps that end a rollout,
    throttled or losing their connection once: the step retries or fails, and the ending is still true."""
    _prepare(aws, model, "failing_deploy" if row.scenario == "failing_deploy" else "deploy")
    if failure == "throttled":
        code = "ThrottlingException" if row.service == "sagemaker" else "Throttling"
        fault = faults.plan.add(
            Fault(row.service, row.operation, "error", times=1, code=code, in_function=row.function),
            getattr(aws_clients, row.service)(),
        )
    else:
        fault = faults.lose_answer(row.service, row.operation, failure, in_function=row.function)
    fields = _fields(aws, row.scenario)

    task = _run(aws, model, _route(row.scenario), **fields)

    assert fault.hits == 1, "the fault never fired: the row tests nothing"
    _assert_true(aws, model, _route(row.scenario), task)
    found = aws.client("cloudwatch").describe_alarms()
    alarms = {a["AlarmName"] for a in [*found["MetricAlarms"], *found["CompositeAlarms"]]}
    if task["status"] != "succeeded" or "bake_alarms_left" not in task["metadata"]:
        assert not {a for a in alarms if task["id"] in a}, "the bake's own alarms outlived it"
    else:  # left by a failing DeleteAlarms, and said so; never a failed rollout for it
        assert set(task["metadata"]["bake_alarms_left"]) == {a for a in alarms if task["id"] in a}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_cancel_whose_wake_fails_is_retried_and_still_ends_the_task_true(aws, faults, model, failure, monkeypatch):
    """The cancel's SendTaskFailure (waking a deploy that waits for green) throttled or losing its
    connection: the mark is recorded, the caller gets 503 with Retry-After, and its retry wakes the wait
    (or finds it woken), so the task ends cancelled with green discarded."""
    _prepare(aws, model, "deploy")
    register_model(aws, model, creating_polls=1, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "3600")
    created = request("deploy", model).body
    _waiting_for_green(aws, created["execution_arn"])
    if failure == "throttled":
        fault = faults.plan.add(
            Fault("stepfunctions", "SendTaskFailure", "error", times=1, code="ThrottlingException"),
            aws_clients.stepfunctions(),
        )
    else:
        fault = faults.lose_answer("stepfunctions", "SendTaskFailure", failure)

    first = _cancel("deploy", created["id"])
    assert first.status == 503, first.body
    assert "Retry-After" in first.headers
    assert read("deploy", created["id"]).body["status"] == "cancelling", "the mark was recorded"
    again = _cancel("deploy", created["id"])
    assert again.status == 202, again.body
    execution = wait_for(aws, created["execution_arn"], timeout=120)
    _deliver_status_change(aws, execution)

    assert fault.hits == 1
    task = read("deploy", created["id"]).body
    assert task["status"] == "cancelled", task["error"]
    _assert_true(aws, model, "deploy", task)
