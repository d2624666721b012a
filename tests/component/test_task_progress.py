"""Live progress: while a task runs, GET names the state running and lists the runs of the states done,
written by the workflow steps themselves; a failed progress write never fails the rollout."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from inference_deploy import dependencies
from inference_deploy.adapters import aws as clients
from local_stack.emulator import EmulatedAws
from local_stack.faults import Fault
from tests.component.workflow_helpers import executed_states, green_waits, read, request, run_task
from tests.conftest import register_model, serve_directly, wait_for

ROOT = Path(__file__).resolve().parents[2]
MODEL = "embed-progress-1"


def task_states(kind: str) -> set[str]:
    states = json.loads((ROOT / "statemachine" / f"{kind}.asl.json").read_text())["States"]
    return {name for name, state in states.items() if state["Type"] == "Task"}


def ran(aws: EmulatedAws, kind: str, execution_arn: str) -> list[str]:
    """The Task states the execution entered, in order, consecutive repeats (polling) counted once."""
    names = [s for s in executed_states(aws, execution_arn) if s in task_states(kind)]
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def until(condition: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"never saw {what}")


def assert_ended_on(task: dict[str, Any], last: str) -> None:
    """The task's progress ends where the workflow did: its last state is the current step and the last
    run, and every run, that one included, has ended."""
    assert task["status"] in ("succeeded", "failed", "cancelled"), task["status"]
    metadata = task["metadata"]
    assert metadata["current_step"] == last
    runs = metadata["step_runs"]
    assert runs[-1]["step"] == last, [r["step"] for r in runs]
    assert runs[-1]["started_at"] >= metadata["current_step_started_at"]
    for run in runs:
        assert run["started_at"] <= run["ended_at"], run


def test_a_running_deploy_shows_its_current_step_and_the_steps_done(aws):
    register_model(aws, MODEL, endpoint_status="Creating")  # green never leaves Creating
    created = request("deploy", MODEL)
    assert created.status == 202

    def awaiting_green() -> dict[str, Any] | None:
        task = read("deploy", created.body["id"]).body
        runs = task["metadata"].get("step_runs", [])
        return task if any(r["step"] == "AwaitGreen" for r in runs) else None

    task = until(awaiting_green, "the deploy waiting for its green endpoint")
    aws.client("stepfunctions").stop_execution(executionArn=created.body["execution_arn"])

    assert task["status"] == "in_progress"
    assert task["metadata"]["current_step"] == "AwaitGreen"
    runs = task["metadata"]["step_runs"]
    assert [r["step"] for r in runs] == ["ProvisionGreen", "AwaitGreen"]
    for run in runs:
        assert run["started_at"] <= run["ended_at"]
        assert "error" not in run


def test_green_wait_rounds_extend_one_run_instead_of_adding_one_each(aws, monkeypatch):
    register_model(aws, MODEL, creating_polls=3)  # each look at green moves it one round closer
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "1")  # no event while Creating: each wait times out
    dependencies.reset()

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded"
    waits = [r for r in task["metadata"]["step_runs"] if r["step"] == "AwaitGreen"]
    assert len(waits) == 1
    assert waits[0]["runs"] == 4  # three looks Creating, one InService
    assert green_waits(aws, task["execution_arn"]) == 4
    assert_ended_on(task, "MarkSucceeded")


def test_a_finished_deploy_lists_every_step_it_ran_and_keeps_its_outcome(aws):
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)  # a blue to retire

    created = request("deploy", MODEL)
    wait_for(aws, created.body["execution_arn"])
    task = read("deploy", created.body["id"]).body

    assert task["status"] == "succeeded"
    assert [r["step"] for r in task["metadata"]["step_runs"]] == ran(aws, "deploy", created.body["execution_arn"])
    assert "RetireBlue" in [r["step"] for r in task["metadata"]["step_runs"]]
    assert_ended_on(task, "RetireBlue")  # the deploy's last step ends its task
    assert "retire_blue" in task["metadata"]["steps"]  # the terminal write left the runs and its outcome


def test_a_failed_deploy_records_the_failing_run_and_its_error(aws):
    register_model(aws, MODEL, endpoint_status="Failed")

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "failed"
    runs = task["metadata"]["step_runs"]
    failing = next(r for r in runs if r["step"] == "AwaitGreen")
    assert failing["error"] == "GreenFailed"
    assert [r["step"] for r in runs][-2:] == ["DiscardGreen", "MarkFailed"]
    assert_ended_on(task, "MarkFailed")


def test_a_finished_delete_lists_every_step_it_ran(aws):
    serve_directly(aws, MODEL)

    created = request("delete", MODEL)
    wait_for(aws, created.body["execution_arn"])
    task = read("delete", created.body["id"]).body

    assert task["status"] == "succeeded"
    assert [r["step"] for r in task["metadata"]["step_runs"]] == ran(aws, "delete", created.body["execution_arn"])
    assert task["metadata"]["step_runs"][0]["step"] == "MarkInProgress"
    assert_ended_on(task, "MarkSucceeded")


def test_a_progress_write_that_fails_never_fails_the_rollout(aws, faults):
    register_model(aws, MODEL)

    def progress_write(params: dict[str, Any]) -> bool:
        return bool({"#cs", "#sr"} & set(params.get("ExpressionAttributeNames", {})))

    fault = faults.plan.add(
        Fault(
            "dynamodb",
            "UpdateItem",
            "error",
            times=1_000,
            code="ProvisionedThroughputExceededException",
            when=progress_write,
        ),
        clients.dynamodb(),
    )
    task = run_task(aws, "deploy", MODEL)

    assert fault.hits > 0
    assert task["status"] == "succeeded"
    assert "step_runs" not in task["metadata"]
    assert "current_step" not in task["metadata"]
