"""Shared test plumbing: sample events, a Lambda context, the emulated stack built from template.yaml."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from inference_deploy.adapters import aws as aws_clients
from inference_deploy.models.settings import load_settings
from local_stack.emulator import EmulatedAws
from local_stack.executions import wait_for_execution

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
TEMPLATE = ROOT / "template.yaml"

# What every Lambda process has, plus quiet tracing and metrics outside Lambda.
BASE_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def load_event(name: str, **overrides: Any) -> dict[str, Any]:
    """A sample event from events/ (the same files `sam local invoke -e` uses), with top-level overrides."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    event.update(overrides)
    return event


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/11/26/[$LATEST]test"
    remaining_ms: int = 20_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: Any = field(repr=False)


def call_api(handler: Any, event: dict[str, Any]) -> ApiResponse:
    raw = handler(event, LambdaContext())
    headers = {k: v[-1] for k, v in (raw.get("multiValueHeaders") or {}).items()}
    headers.update(raw.get("headers") or {})
    text = raw.get("body") or ""
    return ApiResponse(raw["statusCode"], headers, json.loads(text) if text else None)


@pytest.fixture(autouse=True)
def _lambda_like_environment() -> Iterator[None]:
    with mock.patch.dict(os.environ, BASE_ENVIRONMENT):
        yield


@pytest.fixture
def aws() -> Iterator[EmulatedAws]:
    """The whole stack of template.yaml on moto, with Lambda steps running in-process.

    Poll, drain and deadline parameters are zero or small so workflows end in moments."""
    with EmulatedAws(TEMPLATE, parameters=TEST_PARAMETERS) as emulated:
        load_settings.cache_clear()
        aws_clients.reset_clients()
        yield emulated
    load_settings.cache_clear()
    aws_clients.reset_clients()


TEST_PARAMETERS: dict[str, str] = {}


def wait_for(aws: EmulatedAws, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
    return wait_for_execution(aws.client("stepfunctions"), execution_arn, timeout=timeout)
