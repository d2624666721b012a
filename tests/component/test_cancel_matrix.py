"""A cancel landing at every state of both workflows, through the cancel route and the real state machines.

Each row lands the cancel inside one state's Lambda, either just before its work (after the step checked
the cancel mark, so the step runs unaware) or just after it (its AWS calls made, its answer not yet
returned): the two interleavings a cooperative cancel must survive. Whatever the row, the task must end
in a state that is true: its status matches the serving record and the endpoints that exist, nothing is
left running that nothing owns (no green beside blue, no bake alarm), and the model's slot is free.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cancel_task.app import lambda_handler as cancel_handler

from inference_deploy import step_handler
from local_stack.emulator import EmulatedAws
from tests.component.workflow_helpers import endpoint_configs, endpoints_of, read, request, run_task
from tests.conftest import ApiResponse, call_api, load_event, register_model, wait_for

MODEL = "embed-cancel-matrix"


@dataclass
class CancelHook:
    """Cancels the first task of `kind` that reaches `state`, at `when` ("before" or "after" its work)."""

    kind: str
    state: str
    when: str
    skip: set[str] = field(default_factory=set)
    answer: ApiResponse | None = None
    fired: threading.Event = field(default_factory=threading.Event)

    def maybe_cancel(self, progress: Any, when: str) -> None:
        if (
            self.fired.is_set()
            or when != self.when
            or progress.step != self.state
            or not progress.task_id.startswith(f"{self.kind}-")
            or progress.task_id in self.skip
        ):
            return
        self.fired.set()
        # From another thread, as another caller would: the step's Lambda environment is not the cancel's.
        caller = threading.Thread(target=lambda: setattr(self, "answer", _cancel(self.kind, progress.task_id)))
        caller.start()
        caller.join(timeout=120)


def _cancel(kind: str, task_id: str) -> ApiResponse:
    event = load_event(
        f"cancel_{kind}",
        path=f"/internal/inference-deployment/{kind}/{task_id}/cancel",
        pathParameters={"task_id": task_id},
        body=json.dumps({"reason": "cancel matrix"}),
    )
    return call_api(cancel_handler, event)


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str, str], CancelHook]]:
    hooks: list[CancelHook] = []
    real_started, real_record_run = step_handler._started, step_handler._record_run

    def started(progress: Any, at: Any) -> Any:
        start = real_started(progress, at)  # the step's own look at the cancel mark comes first
        for h in hooks:
            h.maybe_cancel(progress, "before")
        return start

    def record_run(progress: Any, *args: Any, **kwargs: Any) -> None:
        for h in hooks:
            h.maybe_cancel(progress, "after")
        real_record_run(progress, *args, **kwargs)

    monkeypatch.setattr(step_handler, "_started", started)
    monkeypatch.setattr(step_handler, "_record_run", record_run)

    def make(kind: str, state: str, when: str) -> CancelHook:
        made = CancelHook(kind, state, when)
        hooks.append(made)
        return made

    return make


def _slot(aws: EmulatedAws) -> Any:
    item = aws.client("dynamodb").get_item(
        TableName=aws.stack.tables["ModelsTable"].name,
        Key={"embedding_model_id": {"S": MODEL}},
        ConsistentRead=True,
    )
    return item.get("Item", {}).get("active_task")


def _alarms(aws: EmulatedAws) -> set[str]:
    found = aws.client("cloudwatch").describe_alarms()
    return {a["AlarmName"] for a in [*found["MetricAlarms"], *found["CompositeAlarms"]]}


def _assert_true_ending(aws: EmulatedAws, serving: dict[str, Any] | None, expected_endpoint: str | None) -> None:
    """The serving record names the one endpoint that exists (or none, and none exists); no bake alarm,
    no endpoint config without its endpoint, and the slot is free."""
    if expected_endpoint is None:
        assert serving is None
        assert endpoints_of(aws, MODEL) == {}
    else:
        assert serving is not None
        assert serving["endpoint_name"] == expected_endpoint
        assert serving.get("previous") is None
        assert endpoints_of(aws, MODEL) == {expected_endpoint: "InService"}
    assert endpoint_configs(aws) == ({expected_endpoint} if expected_endpoint else set())
    assert _alarms(aws) == set()
    assert _slot(aws) is None, "the slot is free"


def _serving() -> dict[str, Any] | None:
    response = read("models", MODEL)
    return response.body if response.status == 200 else None


# (state, when, bake) -> how the deploy ends. With a bake, a cancel is honoured up to and during it.
DEPLOY_ROWS = [
    *[
        (state, when, True, "cancelled")
        for state in (
            "ProvisionGreen",
            "AwaitGreen",
            "PrepareGreen",
            "SwitchTraffic",
            "AwaitBake",
        )
        for when in ("before", "after")
    ],
    # Without a bake nothing is left to go back to once the switch lands: the cancel is refused.
    ("SwitchTraffic", "before", False, "cancelled"),
    ("SwitchTraffic", "after", False, "succeeded"),
    ("RetireBlue", "before", False, "succeeded"),
    ("RetireBlue", "after", False, "succeeded"),  # it ended the task: a redeploy's last step
]


@pytest.mark.parametrize(("state", "when", "bake", "ends"), DEPLOY_ROWS)
def test_a_deploy_cancelled_at_any_state_ends_true(aws, hook, state, when, bake, ends):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]["endpoint_name"]
    cancel = hook("deploy", state, when)

    created = request("deploy", MODEL, **({"bake_seconds": 3600} if bake else {}))
    assert created.status == 202, created.body
    wait_for(aws, created.body["execution_arn"], timeout=120)

    assert cancel.fired.is_set(), f"the workflow never ran {state}"
    assert cancel.answer is not None
    assert cancel.answer.status == (202 if ends == "cancelled" else 409), cancel.answer.body
    task = read("deploy", created.body["id"]).body
    assert task["status"] == ends, task["error"]
    green = task["metadata"]["endpoint_name"]
    _assert_true_ending(aws, _serving(), blue if ends == "cancelled" else green)
    if ends == "cancelled":
        assert task["error"] is None
        assert task["metadata"]["cancel_reason"] == "cancel matrix"


DELETE_ROWS = [
    ("MarkInProgress", "before", "cancelled"),
    ("MarkInProgress", "after", "cancelled"),
    ("UnrouteModel", "before", "cancelled"),
    ("UnrouteModel", "after", "cancelled"),
    ("DeleteEndpoints", "before", "cancelled"),
    # Its first endpoint delete is the point of no return: refused from then on.
    ("DeleteEndpoints", "after", "succeeded"),
    ("MarkSucceeded", "before", "succeeded"),
    ("MarkSucceeded", "after", "succeeded"),
]


@pytest.mark.parametrize(("state", "when", "ends"), DELETE_ROWS)
def test_a_delete_cancelled_at_any_state_ends_true(aws, hook, state, when, ends):
    register_model(aws, MODEL)
    served = run_task(aws, "deploy", MODEL)["metadata"]["endpoint_name"]
    cancel = hook("delete", state, when)

    created = request("delete", MODEL)
    assert created.status == 202, created.body
    wait_for(aws, created.body["execution_arn"], timeout=120)

    assert cancel.fired.is_set(), f"the workflow never ran {state}"
    assert cancel.answer is not None
    assert cancel.answer.status == (202 if ends == "cancelled" else 409), cancel.answer.body
    task = read("delete", created.body["id"]).body
    assert task["status"] == ends, task["error"]
    _assert_true_ending(aws, _serving(), served if ends == "cancelled" else None)
