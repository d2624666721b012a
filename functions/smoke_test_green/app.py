"""Workflow step: probe green and check its embeddings before any traffic moves."""

from __future__ import annotations

from inference_deploy import dependencies
from inference_deploy.logic.green_deploy import smoke_test_green
from inference_deploy.models.workflow import SmokeTestEvent, SmokeTestResult
from inference_deploy.step_handler import workflow_step


@workflow_step(SmokeTestEvent, honours_cancel=True)
def lambda_handler(event: SmokeTestEvent) -> SmokeTestResult:
    return smoke_test_green(event, dependencies.sagemaker())
