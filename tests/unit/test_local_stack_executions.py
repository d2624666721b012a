"""`python -m local_stack executions`: finding the stack's state machines, listing executions, printing steps."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from local_stack import EmulatedAws, load_template
from local_stack import execution_report as report
from local_stack.__main__ import main
from local_stack.executions import wait_for_execution

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TEMPLATE = ROOT / "tests" / "fixtures" / "local_stack" / "template.yaml"
START = datetime(2026, 5, 21, 15, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def aws() -> Iterator[EmulatedAws]:
    """The fixture pipeline, run once to a caught failure (reject) and once to a failed execution (crash)."""
    with EmulatedAws(FIXTURE_TEMPLATE) as emulated:
        for action in ("reject", "crash"):
            emulated.run_execution("PipelineStateMachine", {"key": action, "action": action}, name=f"task-{action}")
        yield emulated


def machines(aws: EmulatedAws) -> list[report.StateMachineRef]:
    return report.find_state_machines(aws.client("stepfunctions"), load_template(FIXTURE_TEMPLATE))


def history(aws: EmulatedAws, task_id: str) -> str:
    sfn = aws.client("stepfunctions")
    description = report.describe_task_execution(sfn, machines(aws), task_id)
    return report.format_history(description, report.execution_history(sfn, description["executionArn"]), now=START)


def test_the_template_names_its_machines_as_emulated_and_as_cloudformation_deploys_them() -> None:
    [pattern] = report.name_patterns(load_template(FIXTURE_TEMPLATE))

    for name in ("PipelineStateMachine", "local-PipelineStateMachine", "PipelineStateMachine-Ab12Cd34Ef56"):
        assert pattern.fullmatch(name), name
    for name in ("OtherStateMachine", "PipelineStateMachine-x", "PipelineStateMachineV2"):
        assert not pattern.fullmatch(name), name


def test_only_machines_named_like_the_templates_are_found(aws: EmulatedAws) -> None:
    sfn = aws.client("stepfunctions")
    sfn.create_state_machine(
        name="SomebodyElsesMachine",
        definition='{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}',
        roleArn=aws.stack.role_arn,
    )

    found = report.find_state_machines(sfn, load_template(ROOT / "template.yaml"))
    fixture = machines(aws)

    assert found == []
    assert [machine.name for machine in fixture] == ["PipelineStateMachine"]


def test_the_listing_shows_each_task_with_machine_status_start_and_duration(aws: EmulatedAws) -> None:
    rows = report.recent_executions(aws.client("stepfunctions"), machines(aws))

    listing = report.format_listing(rows, now=datetime.now(UTC))

    lines = listing.splitlines()
    assert lines[0].split() == ["TASK", "ID", "STATE", "MACHINE", "STATUS", "STARTED", "(UTC)", "DURATION"]
    by_task = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(by_task) == {"task-reject", "task-crash"}
    assert by_task["task-reject"][1:3] == ["PipelineStateMachine", "SUCCEEDED"]
    assert by_task["task-crash"][1:3] == ["PipelineStateMachine", "FAILED"]
    assert all(re.fullmatch(r"\d+\.\ds", fields[-1]) for fields in by_task.values())


def test_a_tasks_steps_show_states_in_order_and_caught_failures_with_their_error(aws: EmulatedAws) -> None:
    text = history(aws, "task-reject")
    steps = [line.split(None, 1)[1] for line in text.splitlines()[1:-1]]

    assert text.splitlines()[0].startswith("task-reject  (PipelineStateMachine)  started ")
    assert steps == [
        "ExecutionStarted",
        "-> Echo  (Task)",
        "<- Echo",
        "-> Step  (Task)",
        "!! LambdaFunctionFailed  ModelRejectedError: model reject rejected",
        "<- Step",
        "-> Rejected  (Pass)",
        "<- Rejected",
        "ExecutionSucceeded",
    ]
    assert text.splitlines()[-1].startswith("status: SUCCEEDED after ")
    assert all(re.match(r"\s+\+\d+\.\d\ds  ", line) for line in text.splitlines()[1:-1])


def test_a_failed_execution_ends_with_its_error_and_cause(aws: EmulatedAws) -> None:
    text = history(aws, "task-crash")

    assert "!! LambdaFunctionFailed  ValueError: unexpected" in text
    assert re.search(r"^status: FAILED after \d+\.\ds: ValueError - unexpected$", text, re.MULTILINE)


def test_an_unknown_task_is_reported_as_such(aws: EmulatedAws) -> None:
    with pytest.raises(report.ExecutionNotFound, match="deploy-nothing"):
        report.describe_task_execution(aws.client("stepfunctions"), machines(aws), "deploy-nothing")


def test_the_command_lists_and_prints_steps_through_plain_boto3(
    aws: EmulatedAws, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--template", str(FIXTURE_TEMPLATE), "--region", aws.region]

    assert main(["executions", *common]) == 0
    listing = capsys.readouterr().out
    assert main(["executions", *common, "task-crash"]) == 0
    steps = capsys.readouterr().out
    assert main(["executions", *common, "task-unknown"]) == 1
    missing = capsys.readouterr().err
    arn = aws.stack.arn("PipelineStateMachine")
    assert main(["executions", "--state-machine-arn", arn, "--region", aws.region, "task-reject"]) == 0
    by_arn = capsys.readouterr().out

    assert "task-reject" in listing
    assert "task-crash" in listing
    assert "status: FAILED" in steps
    assert "task-unknown" in missing
    assert "status: SUCCEEDED" in by_arn


def event(seconds: float, kind: str, **details: Any) -> dict[str, Any]:
    return {"timestamp": START + timedelta(seconds=seconds), "type": kind, "id": int(seconds * 100), **details}


def test_history_formatting_is_exactly_this() -> None:
    description = {
        "name": "deploy-01ABC",
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:DeployStateMachine-Xy12Ab34Cd56",
        "startDate": START,
        "stopDate": START + timedelta(seconds=75),
        "status": "FAILED",
        "error": "GreenFailed",
        "cause": '{"errorMessage": "endpoint   failed\\nhealth check", "errorType": "GreenFailed"}',
    }
    lambda_cause = '{"errorMessage": "throttled", "errorType": "StoreUnavailable", "stackTrace": []}'
    events = [
        event(0, "ExecutionStarted"),
        event(0.01, "TaskStateEntered", stateEnteredEventDetails={"name": "MarkInProgress"}),
        event(0.02, "TaskScheduled"),
        event(0.5, "TaskFailed", taskFailedEventDetails={"error": "StoreUnavailable", "cause": lambda_cause}),
        event(2.5, "TaskSucceeded"),
        event(2.51, "TaskStateExited", stateExitedEventDetails={"name": "MarkInProgress"}),
        event(2.52, "WaitStateEntered", stateEnteredEventDetails={"name": "WaitForGreen"}),
        event(74, "ExecutionFailed", executionFailedEventDetails={"error": "GreenFailed", "cause": "plain text"}),
    ]

    text = report.format_history(description, events, now=START)

    assert text == (
        "deploy-01ABC  (DeployStateMachine-Xy12Ab34Cd56)  started 2026-05-21 15:00:00 UTC\n"
        "     +0.00s  ExecutionStarted\n"
        "     +0.01s  -> MarkInProgress  (Task)\n"
        "     +0.50s  !! TaskFailed  StoreUnavailable: throttled\n"
        "     +2.51s  <- MarkInProgress\n"
        "     +2.52s  -> WaitForGreen  (Wait)\n"
        "    +74.00s  !! ExecutionFailed  GreenFailed: plain text\n"
        "status: FAILED after 1m15s: GreenFailed - endpoint failed health check\n"
    )


def test_listing_formatting_is_exactly_this() -> None:
    rows = [
        report.ExecutionRow("deploy-02", "DeployStateMachine", "RUNNING", START + timedelta(seconds=30), None, "a"),
        report.ExecutionRow("delete-01", "DeleteStateMachine", "SUCCEEDED", START, START + timedelta(hours=1), "b"),
    ]

    text = report.format_listing(rows, now=START + timedelta(seconds=42.25))

    assert text == (
        "TASK ID    STATE MACHINE       STATUS     STARTED (UTC)        DURATION\n"
        "deploy-02  DeployStateMachine  RUNNING    2026-05-21 15:00:30  12.2s so far\n"
        "delete-01  DeleteStateMachine  SUCCEEDED  2026-05-21 15:00:00  1h00m00s\n"
    )
    assert report.format_listing([], now=START) == "no executions yet\n"


@pytest.mark.parametrize(
    ("owner", "held"),
    [(ExecutionWorker, "_get_evaluation_entrypoint"), (Program, "eval")],
    ids=["before-its-environment-exists", "before-its-first-state"],
)
def test_an_execution_stopped_before_its_worker_runs_is_aborted_as_in_aws(
    aws: EmulatedAws, owner: type, held: str
) -> None:
    """The worker thread is held at `held` until StopExecution arrives, so the stop always lands in a
    window where moto alone raises AttributeError or loses the stop; the machine then waits, so only an
    applied stop can end it within the test."""
    stop_requested = threading.Event()
    hold, stop = getattr(owner, held), ExecutionWorker.stop

    def held_step(*args: Any) -> Any:
        stop_requested.wait(30)
        return hold(*args)

    def announced_stop(worker: ExecutionWorker, *args: Any, **kwargs: Any) -> Any:
        stop_requested.set()
        return stop(worker, *args, **kwargs)

    sfn = aws.client("stepfunctions")
    waiting = sfn.create_state_machine(
        name=f"Waiting-{held.strip('_')}",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}),
        roleArn=aws.stack.role_arn,
    )["stateMachineArn"]
    with mock.patch.object(owner, held, held_step), mock.patch.object(ExecutionWorker, "stop", announced_stop):
        arn = sfn.start_execution(stateMachineArn=waiting, name="stopped-early")["executionArn"]
        sfn.stop_execution(executionArn=arn, error="OperatorAbort")
        assert wait_for_execution(sfn, arn)["status"] == "ABORTED"


def test_an_execution_stopped_during_a_task_token_wait_stays_aborted_whatever_its_catch(aws: EmulatedAws) -> None:
    """AWS ends a stopped execution ABORTED. Moto interrupts the token wait as a timeout, and a Catch of
    States.Timeout (the bake's wait has one) ran on and turned the stop into the Catch's ending."""
    sfn = aws.client("stepfunctions")
    waiting = sfn.create_state_machine(
        name="WaitingForAToken",
        definition=json.dumps(
            {
                "StartAt": "Await",
                "States": {
                    "Await": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                        "Parameters": {
                            "FunctionName": aws.stack.functions["EchoFunction"].arn,
                            "Payload": {"key": "stopped-while-waiting", "token.$": "$$.Task.Token"},
                        },
                        "TimeoutSeconds": 600,
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "CaughtIt"}],
                        "End": True,
                    },
                    "CaughtIt": {"Type": "Fail", "Error": "CaughtIt"},
                },
            }
        ),
        roleArn=aws.stack.role_arn,
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=waiting, name="stopped-while-waiting")["executionArn"]
    deadline = time.monotonic() + 60
    while not any(e["type"] == "TaskSubmitted" for e in sfn.get_execution_history(executionArn=arn)["events"]):
        assert time.monotonic() < deadline, "the execution never began its wait"
        time.sleep(0.02)

    sfn.stop_execution(executionArn=arn, error="OperatorAbort")

    assert wait_for_execution(sfn, arn, timeout=30)["status"] == "ABORTED"
    time.sleep(0.5)  # what still runs in the stopped execution must not overwrite it afterwards
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"


def test_a_machine_named_after_its_stack_is_found_by_that_name() -> None:
    """DeployStateMachine is `!Sub "${AWS::StackName}-deploy"` (its task tokens are scoped by that name)."""
    patterns = report.name_patterns(load_template(ROOT / "template.yaml"))

    assert any(pattern.fullmatch("local-deploy") for pattern in patterns)
    assert any(pattern.fullmatch("prod-inference-deploy") for pattern in patterns)
    assert not any(pattern.fullmatch("local-deploy-other") for pattern in patterns)
