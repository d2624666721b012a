"""The workflow samples in events/ are what `sam local invoke -e` sends: each must be a valid input of its step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from inference_deploy.models.workflow import ExecutionStatusChange, FinishTaskEvent, TaskStepEvent

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.mark.parametrize(
    ("sample", "model"),
    [
        ("begin_task.json", TaskStepEvent),
        ("finish_task.json", FinishTaskEvent),
        ("execution_status_change.json", ExecutionStatusChange),
    ],
)
def test_a_workflow_sample_is_a_valid_input_of_its_step(sample: str, model: type[BaseModel]) -> None:
    model.model_validate(json.loads((EVENTS / sample).read_text()))
