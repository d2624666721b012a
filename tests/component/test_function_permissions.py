"""Every AWS call a function makes is allowed by its own policy: the workflows through all their endings.

The local stack authorizes each call a function makes against that function's role (local_stack/iam.py):
a call the role does not grant fails with AccessDenied as in AWS, so the scenarios below (deploys with and
without a bake, a rollback, an operator abort and its repair, a cancel, reads, a delete, the reconciler)
end as they should only if every call they make is allowed. The session's calls, each with the statement
that allowed it, are written to test-output/iam-calls.json (`python -m local_stack iam-calls` prints them).
"""

from __future__ import annotations

import time

from finish_abandoned_task.app import lambda_handler as finish_abandoned_handler

from local_stack.emulator import EmulatedAws
from local_stack.iam import RECORDER, format_calls
from local_stack.lambdas import running_as
from tests.component.test_bake_and_cancel import _cancel, _waiting_for_green
from tests.component.test_reconciler import reconcile
from tests.component.workflow_helpers import caller_alarm, executed_states, read, repair_of, request, run_task
from tests.conftest import LambdaContext, load_event, register_model, wait_for

MODEL = "embed-permissions"


def _tripped_alarm(aws: EmulatedAws) -> str:
    """A caller's alarm already in ALARM: the bake's first check rolls back."""
    return caller_alarm(aws, "permissions-user-alarm", in_alarm=True)


def _abort_and_repair(aws: EmulatedAws) -> None:
    """A deploy stopped by an operator mid-bake: the status event starts the model's repair."""
    created = request("deploy", MODEL, bake_seconds=3600).body
    deadline = time.monotonic() + 120
    while "AwaitBake" not in executed_states(aws, created["execution_arn"]):
        assert time.monotonic() < deadline, "the deploy never baked"
        time.sleep(0.05)
    aws.client("stepfunctions").stop_execution(executionArn=created["execution_arn"], error="OperatorAbort")
    wait_for(aws, created["execution_arn"])
    event = load_event("execution_status_change")
    event["detail"].update(executionArn=created["execution_arn"], name=created["id"], status="ABORTED")
    with running_as("FinishAbandonedTaskFunction"):  # as EventBridge invokes it
        finish_abandoned_handler(event, LambdaContext())
    wait_for(aws, repair_of(aws, created["id"]), timeout=120)


def test_every_call_a_workflow_function_makes_is_allowed_by_its_own_policy(aws, monkeypatch):
    register_model(aws, MODEL)
    assert run_task(aws, "deploy", MODEL)["status"] == "succeeded"  # first deploy: no blue
    # the bake passes (alarms on green made, green's metrics read, the alarms deleted), blue retired
    assert run_task(aws, "deploy", MODEL, bake_seconds=1, green_alarms=True)["status"] == "succeeded"
    tripped = _tripped_alarm(aws)
    rolled_back = run_task(aws, "deploy", MODEL, bake_seconds=3600, rollback_alarms=[tripped])
    assert rolled_back["error"]["code"] == "rolled_back"
    aws.client("cloudwatch").set_alarm_state(AlarmName=tripped, StateValue="OK", StateReason="ok")
    _abort_and_repair(aws)
    register_model(aws, MODEL, creating_polls=2, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "3600")
    waiting = request("deploy", MODEL).body
    _waiting_for_green(aws, waiting["execution_arn"])
    assert _cancel("deploy", waiting["id"]).status == 202
    wait_for(aws, waiting["execution_arn"], timeout=120)
    for route, value in (("deploy", waiting["id"]), ("deploy-status", MODEL), ("models", MODEL)):
        assert read(route, value).status == 200
    register_model(aws, MODEL)
    assert run_task(aws, "delete", MODEL)["status"] == "succeeded"
    reconcile(aws, monkeypatch)

    report = RECORDER.as_json()
    print(format_calls(report))
    assert {
        "CreateTaskFunction",
        "CancelTaskFunction",
        "ReadTaskFunction",
        "SweepModelEndpointsFunction",
        "RollBackFunction",
        "ConvergeModelFunction",
        "DiscardGreenFunction",
        "FinishAbandonedTaskFunction",
        "ReconcileEndpointsFunction",
        "ResumeGreenWaitFunction",
    } <= set(report), f"the scenarios did not reach every ending: {sorted(report)}"
    assert all(call["allowed_by"] for calls in report.values() for call in calls)
