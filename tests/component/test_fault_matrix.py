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
from inference_deploy.naming import green_endpoint, name_prefix, resource_tags
from local_stack.emulator import EmulatedAws
from local_stack.faults import FaultKind
from local_stack.lambdas import LambdaTimeouts
from tests.component.workflow_helpers import endpoint_configs, endpoints_of, read, request
from tests.conftest import TEMPLATE, TEST_PARAMETERS, LambdaContext, load_event, register_model, wait_for

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
    Row("deploy", "BeginTaskFunction", "dynamodb", "UpdateItem"),
    Row("deploy", "ProvisionGreenFunction", "sagemaker", "CreateEndpointConfig"),
    Row("deploy", "ProvisionGreenFunction", "sagemaker", "CreateEndpoint"),
    Row("deploy", "CheckGreenFunction", "dynamodb", "UpdateItem"),  # the green wait's token, stored
    Row("deploy", "SwitchTrafficFunction", "dynamodb", "TransactWriteItems"),
    Row("deploy", "DeleteEndpointFunction", "sagemaker", "DeleteEndpoint"),
    Row("deploy", "DeleteEndpointFunction", "sagemaker", "DeleteEndpointConfig"),
    Row("deploy", "FinishTaskFunction", "dynamodb", "TransactWriteItems"),
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
    ("deploy", "BeginTaskFunction"),
    ("deploy", "ResolveModelFunction"),
    ("deploy", "ProvisionGreenFunction"),
    ("deploy", "CheckGreenFunction"),
    ("deploy", "SmokeTestGreenFunction"),
    ("deploy", "SwitchTrafficFunction"),
    ("deploy", "DeleteEndpointFunction"),
    ("deploy", "FinishTaskFunction"),
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
    tags = [{"Key": k, "Value": v} for k, v in resource_tags(model, blue_task, "sagemaker-realtime").items()]
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


def _deliver_status_change(execution: dict[str, Any]) -> None:
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


def _run(aws, model: str, route: str) -> dict[str, Any]:
    """POST the task as a client would: once, and again (same body) if the first answer was an error
    that says to retry. Returns the task the caller ends up with, after its execution ended."""
    created = request(route, model)
    if created.status in (500, 503):
        created = request(route, model)
    assert created.status == 202, created.body
    execution = wait_for(aws, created.body["execution_arn"])
    _deliver_status_change(execution)
    return read(route, created.body["id"]).body


def _assert_true(aws, model: str, route: str, task: dict[str, Any]) -> None:
    assert task["status"] in ("succeeded", "failed"), task
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
        else:
            assert record is None or record["endpoint_name"] != green, "failed, but green serves"
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
        if i["embedding_model_id"]["S"] == model and i["status"]["S"] in ("pending", "in_progress")
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
