"""What SageMaker says when it refuses a request reaches the task's error, so its owner can fix it."""

from __future__ import annotations

from tests.component.workflow_helpers import run_task
from tests.conftest import register_model

MODEL = "embed-deploy-123"


def test_the_emulators_reason_for_invalid_settings_reaches_the_task_error(aws):
    register_model(aws, MODEL, creating_polls="soon")

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "failed"
    assert task["error"]["code"] == "sagemaker_error", task["error"]
    assert "ValidationException" in task["error"]["message"]
    assert "invalid emulator settings" in task["error"]["message"], task["error"]
    assert "EMULATOR_CREATING_POLLS" in task["error"]["message"]
