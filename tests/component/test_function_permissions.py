"""Every AWS call a function makes is an action its own policy in template.yaml allows.

The local stack does not evaluate IAM (moto lets every function do everything), so a call a function's
role does not grant passes every other test and fails only in AWS. This test runs the workflows through
their real state machines (deploys with and without a bake, a rollback, cancels, a delete, an aborted
execution's repair, the reconciler), records each call with the function that made it, and checks the
call's IAM action against the Allow statements of that function. Actions only: resource ARNs and
conditions are checked statically in tests/unit/test_iam_policies.py."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from finish_abandoned_task.app import lambda_handler as finish_abandoned_handler

from inference_deploy.adapters import aws as aws_clients
from local_stack import lambdas
from local_stack.cfn_yaml import load_yaml
from local_stack.emulator import EmulatedAws
from local_stack.lambdas import current_function
from tests.component.test_bake_and_cancel import _cancel, _waiting_for_green
from tests.component.test_reconciler import reconcile
from tests.component.workflow_helpers import caller_alarm, executed_states, read, repair_of, request, run_task
from tests.conftest import TEMPLATE, LambdaContext, load_event, register_model, wait_for

MODEL = "embed-permissions"
IAM_PREFIX = {
    "dynamodb": "dynamodb",
    "sagemaker": "sagemaker",
    "sagemaker-runtime": "sagemaker",
    "stepfunctions": "states",
    "cloudwatch": "cloudwatch",
    "iam": "iam",
    "events": "events",
    "application-autoscaling": "application-autoscaling",
}
TRANSACTION_ENTRIES = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
Call = tuple[str, str]  # (function logical id, IAM action)


def required_actions(service: str, operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions AWS authorizes a call as (a transaction: one per entry kind)."""
    if service == "dynamodb" and operation == "TransactWriteItems":
        return {TRANSACTION_ENTRIES[kind] for entry in params.get("TransactItems", []) for kind in entry}
    return {f"{IAM_PREFIX[service]}:{operation}"}


def allowed_actions(template: dict[str, Any], function: str) -> list[str]:
    policies = template["Resources"][function]["Properties"].get("Policies", [])
    actions: list[str] = []
    for policy in policies:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if statement.get("Effect") == "Allow":
                granted = statement["Action"]
                actions += granted if isinstance(granted, list) else [granted]
    return actions


@pytest.fixture
def calls(aws: EmulatedAws) -> Iterator[set[Call]]:
    """(function, action) of every call a Lambda of the stack makes through the project's clients."""
    made: set[Call] = set()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        function = current_function()
        if function is not None:
            service = model.service_model.service_name
            made.update((function, action) for action in required_actions(service, model.name, params))

    names = ("dynamodb", "sagemaker", "stepfunctions", "cloudwatch", "iam")
    clients = [getattr(aws_clients, name)() for name in names]
    clients.append(aws_clients.sagemaker_runtime())
    for client in clients:
        client.meta.events.register("before-parameter-build.*.*", record, unique_id="permission-check")
    yield made
    for client in clients:
        client.meta.events.unregister("before-parameter-build.*.*", unique_id="permission-check")


def _tripped_alarm(aws: EmulatedAws) -> str:
    """A caller's alarm already in ALARM: the bake's first check rolls back."""
    return caller_alarm(aws, "permissions-user-alarm", in_alarm=True)


def _as_function[T](function: str, call: Callable[[], T]) -> T:
    """Run an API handler as the local gateway runs it: inside its function (tests call it directly)."""
    token = lambdas._current_function.set(function)
    try:
        return call()
    finally:
        lambdas._current_function.reset(token)


def _abort_and_repair(aws: EmulatedAws) -> None:
    """A deploy stopped by an operator mid-bake: the status event starts the model's repair."""
    created = request("deploy", MODEL, bake_seconds=3600).body
    deadline = time.monotonic() + 120
    while "CheckBake" not in executed_states(aws, created["execution_arn"]):
        assert time.monotonic() < deadline, "the deploy never baked"
        time.sleep(0.05)
    aws.client("stepfunctions").stop_execution(executionArn=created["execution_arn"], error="OperatorAbort")
    wait_for(aws, created["execution_arn"])
    event = load_event("execution_status_change")
    event["detail"].update(executionArn=created["execution_arn"], name=created["id"], status="ABORTED")
    finish_abandoned_handler(event, LambdaContext())
    wait_for(aws, repair_of(aws, created["id"]), timeout=120)


def test_every_call_a_workflow_function_makes_is_allowed_by_its_own_policy(aws, calls, monkeypatch):
    register_model(aws, MODEL)
    assert run_task(aws, "deploy", MODEL)["status"] == "succeeded"  # first deploy: no blue
    assert run_task(aws, "deploy", MODEL, bake_seconds=1)["status"] == "succeeded"  # bake passes, blue retired
    rolled_back = run_task(aws, "deploy", MODEL, bake_seconds=3600, rollback_alarms=[_tripped_alarm(aws)])
    assert rolled_back["error"]["code"] == "rolled_back"
    aws.client("cloudwatch").set_alarm_state(AlarmName="permissions-user-alarm", StateValue="OK", StateReason="ok")
    _abort_and_repair(aws)
    register_model(aws, MODEL, creating_polls=2, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "3600")
    waiting = _as_function("CreateTaskFunction", lambda: request("deploy", MODEL)).body
    _waiting_for_green(aws, waiting["execution_arn"])
    assert _as_function("CancelTaskFunction", lambda: _cancel("deploy", waiting["id"])).status == 202
    wait_for(aws, waiting["execution_arn"], timeout=120)
    for route, value in (("deploy", waiting["id"]), ("deploy-status", MODEL), ("models", MODEL)):
        assert _as_function("ReadTaskFunction", lambda: read(route, value)).status == 200  # noqa: B023
    register_model(aws, MODEL)
    assert run_task(aws, "delete", MODEL)["status"] == "succeeded"
    reconcile(aws, monkeypatch)

    template = load_yaml(TEMPLATE)
    denied = sorted(
        (function, action)
        for function, action in calls
        if not any(fnmatch.fnmatchcase(action, granted) for granted in allowed_actions(template, function))
    )
    functions = {function for function, _ in calls}
    assert {
        "CreateTaskFunction",
        "CancelTaskFunction",
        "ReadTaskFunction",
        "SweepModelEndpointsFunction",
        "RollBackFunction",
        "ConvergeModelFunction",
        "DiscardGreenFunction",
    } <= (functions), f"the scenarios did not reach every ending: {sorted(functions)}"
    assert denied == [], f"calls the function's own policy does not allow (AccessDenied in AWS): {denied}"
