"""Every Task state of the state machines passes `progress` (its task and its own name) to its step, so
live progress names each state as the ASL does; a state added without it would run unrecorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MACHINES = sorted((ROOT / "statemachine").glob("*.asl.json"))


def _task_states(path: Path) -> list[tuple[str, dict]]:
    states = json.loads(path.read_text())["States"]
    return [(name, state) for name, state in states.items() if state["Type"] == "Task"]


@pytest.mark.parametrize("machine", MACHINES, ids=lambda p: p.name)
def test_every_task_state_passes_its_task_and_name_for_progress(machine: Path) -> None:
    states = _task_states(machine)
    assert states
    for name, state in states:
        arguments = state.get("Parameters", {})
        if state["Resource"].startswith("arn:aws:states:::lambda:invoke"):
            arguments = arguments.get("Payload", {})  # an integration pattern: the Lambda's event is the Payload
        assert arguments.get("progress") == {"task_id.$": "$.task_id", "step.$": "$$.State.Name"}, name
