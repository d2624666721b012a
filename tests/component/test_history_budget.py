"""Step Functions ends an execution whose history reaches 25,000 events: the template's bounds on the
event wait, the poll interval and the deadlines must keep every execution under it, at the events a round costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfnlint.decode.cfn_yaml import load as load_yaml

from inference_deploy import dependencies
from local_stack.emulator import EmulatedAws
from tests.component.workflow_helpers import green_waits, run_task
from tests.conftest import register_model

ROOT = Path(__file__).resolve().parents[2]
HISTORY_LIMIT = 25_000
MODEL = "embed-history-1"


def history_length(aws: EmulatedAws, execution_arn: str) -> int:
    pages = aws.client("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return sum(len(page["events"]) for page in pages)


def bound(name: str, key: str) -> int:
    parameter: dict[str, Any] = load_yaml(ROOT / "template.yaml")["Parameters"][name]
    return int(parameter[key])


def test_each_green_wait_round_costs_few_events_and_the_bounds_keep_a_deploy_under_the_limit(aws, monkeypatch):
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "1")  # no events: every round is a timed-out wait
    dependencies.reset()
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    register_model(aws, MODEL, creating_polls=1, state_change_events="false")
    short = run_task(aws, "deploy", MODEL)
    register_model(aws, MODEL, creating_polls=4, state_change_events="false")
    long = run_task(aws, "deploy", MODEL)
    extra_rounds = green_waits(aws, long["execution_arn"]) - green_waits(aws, short["execution_arn"])

    per_round = (
        history_length(aws, long["execution_arn"]) - history_length(aws, short["execution_arn"])
    ) / extra_rounds

    assert per_round == 4  # the AwaitGreen retry: TaskScheduled, TaskStarted, TaskSubmitted, TaskTimedOut
    green_rounds = bound("GreenTimeoutSeconds", "MaxValue") // bound("GreenEventWaitSeconds", "MinValue") + 1
    discard_rounds = bound("RemovalTimeoutSeconds", "MaxValue") // bound("GreenPollSeconds", "MinValue")
    worst = history_length(aws, long["execution_arn"]) + green_rounds * per_round + discard_rounds * 9
    assert worst < HISTORY_LIMIT / 1.5, f"{worst} events at the template's bounds: too close to {HISTORY_LIMIT}"
    deploy = json.loads((ROOT / "statemachine" / "deploy.asl.json").read_text())
    retry = next(r for r in deploy["States"]["AwaitGreen"]["Retry"] if r["ErrorEquals"] == ["States.Timeout"])
    assert retry["MaxAttempts"] >= green_rounds, "the wait must outlast the deadline at the template's bounds"


def test_each_state_machine_has_a_timeout_longer_than_its_longest_legitimate_run():
    most = {name: bound(name, "MaxValue") for name in ("GreenTimeoutSeconds", "DrainSeconds", "RemovalTimeoutSeconds")}
    deploy = json.loads((ROOT / "statemachine" / "deploy.asl.json").read_text())
    delete = json.loads((ROOT / "statemachine" / "delete.asl.json").read_text())

    # deploy: green comes up, blue drains (or green is discarded), retries on top
    assert deploy["TimeoutSeconds"] >= sum(most.values()) + 3600
    assert delete["TimeoutSeconds"] >= most["DrainSeconds"] + most["RemovalTimeoutSeconds"] + 3600
