"""Shared test plumbing: sample events, a Lambda context, the emulated stack built from template.yaml."""

from __future__ import annotations

import os

# Before any project import: Powertools reads these when its Logger and Tracer are created.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "inference-deployment-tasks")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

from inference_deploy import dependencies
from inference_deploy.adapters import aws as aws_clients
from local_stack.emulator import EmulatedAws
from local_stack.executions import wait_for_execution
from local_stack.faults import Fault, FaultKind, FaultPlan
from local_stack.iam import RECORDER
from local_stack.lambdas import LambdaTimeouts, running_as
from local_stack.run_config import SAMPLE_ADMIN_PATTERN, create_sample_caller
from local_stack.sagemaker import register_model as register_emulated_model
from local_stack.template import load_template

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
    # A template Global the layer reads outside a function too (naming.bake_alarm_prefix): the local stack's.
    "BAKE_ALARM_PREFIX": "local-bake-",
}


def run_fresh_python(*args: str, pythonpath: str | None = None, timeout: float = 120) -> str:
    """Run `python *args` in a fresh interpreter (a cold start) with the suite's base environment; its
    stdout. A non-zero exit fails the test with the end of its stderr."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(BASE_ENVIRONMENT)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    completed = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def put_alarm(cloudwatch: Any, name: str, namespace: str = "Test") -> None:
    """A plain metric alarm (errors summed over a minute, one breach trips it), in INSUFFICIENT_DATA."""
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


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


# The function a handler module belongs to: a handler called directly runs as that function, so its calls
# are authorized against that function's role (local_stack/iam.py), as the local gateway runs it.
# The template, read once per process (a worker's); each `aws` stack is deployed from it anew.
LOADED_TEMPLATE = load_template(TEMPLATE)
FUNCTION_OF_MODULE = {spec.module_name: key for key, spec in LOADED_TEMPLATE.functions.items()}
IAM_CALLS_REPORT = ROOT / "test-output" / "iam-calls.json"


def as_function(handler: Any) -> str | None:
    return FUNCTION_OF_MODULE.get(getattr(handler, "__module__", ""))


def call_api(handler: Any, event: dict[str, Any]) -> ApiResponse:
    with running_as(as_function(handler)):
        raw = handler(event, LambdaContext())
    headers = {k: v[-1] for k, v in (raw.get("multiValueHeaders") or {}).items()}
    headers.update(raw.get("headers") or {})
    text = raw.get("body") or ""
    return ApiResponse(raw["statusCode"], headers, json.loads(text) if text else None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Every call the stack's functions made in the session, with the statement that allowed it. Under
    pytest-xdist each worker writes its own part and the controller (which runs no test) joins them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is not None:
        if RECORDER.calls():
            RECORDER.write(IAM_CALLS_REPORT.with_name(f"iam-calls.{worker}.json"))
        return
    parts = sorted(IAM_CALLS_REPORT.parent.glob("iam-calls.gw*.json"))
    if parts:
        joined: dict[str, dict[tuple[str, str, str, str], dict[str, Any]]] = {}
        for part in parts:
            for function, calls in json.loads(part.read_text()).items():
                for call in calls:
                    key = (call["operation"], call["action"], call["resource"], call["allowed_by"])
                    seen = joined.setdefault(function, {}).setdefault(key, {**call, "calls": 0})
                    seen["calls"] += call["calls"]
            part.unlink()
        report = {
            function: sorted(calls.values(), key=lambda c: (c["action"], c["resource"]))
            for function, calls in sorted(joined.items())
        }
        IAM_CALLS_REPORT.write_text(json.dumps(report, indent=2) + "\n")
    elif RECORDER.calls():
        RECORDER.write(IAM_CALLS_REPORT)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules with slow tests first (each kept whole, for its module fixtures), then the others, each
    in its order: pytest-xdist hands tests out in this order, and a long test handed out last keeps its
    worker busy while the others have nothing left to run."""
    slow_modules = {
        item.module for item in items if isinstance(item, pytest.Function) and item.get_closest_marker("slow")
    }
    items.sort(key=lambda item: getattr(item, "module", None) not in slow_modules)


@pytest.fixture(autouse=True)
def _lambda_like_environment() -> Iterator[None]:
    with mock.patch.dict(os.environ, BASE_ENVIRONMENT):
        yield


# Poll and drain at zero so workflows end in moments (below the template's MinValue for GreenPollSeconds,
# which guards deployed stacks, not tests); deadlines long enough never to trip by accident.
# The sample events' caller (role ml-platform-ci) is an admin, so tests about workflows need not tag models;
# tests/component/test_authorization.py calls as other roles and users.
TEST_PARAMETERS = {
    "GreenPollSeconds": "0",
    "DrainSeconds": "0",
    "GreenTimeoutSeconds": "60",
    "RemovalTimeoutSeconds": "60",
    "AdminPrincipalArnPatterns": SAMPLE_ADMIN_PATTERN,
    # No bake unless a test asks for one (bake_seconds in the request); its checks never wait.
    "BakeSeconds": "0",
    "BakeCheckSeconds": "0",
}


@pytest.fixture
def aws() -> Iterator[EmulatedAws]:
    """The whole stack of template.yaml on moto, with Lambda steps running in-process."""
    with EmulatedAws(LOADED_TEMPLATE, parameters=TEST_PARAMETERS) as emulated:
        create_sample_caller(emulated.client("iam"), emulated.stack.account_id)
        dependencies.reset()
        yield emulated
    dependencies.reset()


def wait_for(aws: EmulatedAws, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
    return wait_for_execution(aws.client("stepfunctions"), execution_arn, timeout=timeout)


def register_model(
    aws: EmulatedAws, name: str = "embed-deploy-123", *, tags: dict[str, str] | None = None, **emulator: str | int
) -> str:
    """A SageMaker Model in the emulator, with `tags`; EMULATOR_* settings steer the endpoints made from it
    (embedding_dimension=…, endpoint_status=…, response=…, see local_stack/sagemaker.py)."""
    register_emulated_model(aws.client, name, tags=tags, **emulator)
    return name


def serve_directly(
    aws: EmulatedAws, model_id: str, endpoint_name: str = "seeded-endpoint", dimension: int = 384
) -> None:
    """Write a serving record without a deployment, for API tests that only need the model to be served."""
    aws.client("dynamodb").update_item(
        TableName=aws.stack.tables["ModelsTable"].name,
        Key={"embedding_model_id": {"S": model_id}},
        UpdateExpression="SET serving = :record",
        ExpressionAttributeValues={
            ":record": {
                "M": {
                    "endpoint_name": {"S": endpoint_name},
                    "endpoint_config_name": {"S": endpoint_name},
                    "task_id": {"S": "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3"},
                    "embedding_dimension": {"N": str(dimension)},
                    "since": {"S": "2024-05-21T15:00:00Z"},
                }
            }
        },
    )


class FaultInjector:
    """Faults AWS throws and moto cannot, on the project's own cached clients (local_stack/faults.py).

    `fail("sagemaker", "DeleteEndpoint", "ThrottlingException", times=2)` answers an error for the next
    two calls without making them. `lose_answer("dynamodb", "UpdateItem", "read_timeout",
    in_function="SwitchTrafficFunction")` lets the write happen and then loses its answer; `retried`
    hands back the answer of the SDK's second attempt instead; `connect_timeout` and `connection_error`
    fail before anything is sent. `lambda_times_out("SwitchTrafficFunction")` makes the step's next
    invocation report Sandbox.Timedout after its handler ran."""

    def __init__(self) -> None:
        self.plan = FaultPlan()

    @property
    def calls(self) -> dict[str, int]:
        return self.plan.calls

    def fail(
        self,
        service: str,
        operation: str,
        code: str,
        *,
        times: int = 1_000_000,
        status: int = 400,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Fault:
        """`when` picks the calls by their parameters (`lambda p: p["EndpointName"] == blue`)."""
        fault = Fault(service, operation, "error", times=times, code=code, status=status, when=when)
        return self.plan.add(fault, _client(service))

    def lose_answer(
        self,
        service: str,
        operation: str,
        kind: FaultKind = "read_timeout",
        *,
        times: int = 1,
        in_function: str | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Fault:
        fault = Fault(service, operation, kind, times=times, in_function=in_function, when=when)
        return self.plan.add(fault, _client(service))

    def lambda_times_out(self, function_logical_id: str, *, times: int = 1) -> None:
        LambdaTimeouts.after_handler(function_logical_id, times=times)


def _client(service: str) -> Any:
    return getattr(aws_clients, service.replace("-", "_"))()


@pytest.fixture
def faults(aws: EmulatedAws) -> Iterator[FaultInjector]:
    LambdaTimeouts.clear()
    injector = FaultInjector()
    yield injector
    injector.plan.clear()
    LambdaTimeouts.clear()


class ParkedWaits:
    """Wait states of `threshold` seconds or more block until `release()`, then end at once: a workflow
    parked in a long Wait (a drain, say) while a test acts, with no test sitting the wait out. Task
    token waits with a timeout that long (the bake) are parked alike: completed tokens end them as
    usual, and `release()` makes them time out at once (the bake's end reached)."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def wait(self, seconds: float) -> bool:
        """True when this wait is parked (and so was released); False for a short wait, run as usual."""
        if seconds < self.threshold:
            return False
        assert self._released.wait(timeout=600), "a parked Wait state was never released"
        return True

    def token_wait(self, endpoint: Any) -> Any:
        """A parked task token wait: its outcome once completed, None (timed out) once released."""
        while not self._released.is_set():
            outcome = endpoint.wait(timeout=0.05)
            if outcome is not None or endpoint._notify_event.is_set():  # completed, or interrupted (stopped)
                return outcome
        return endpoint.get_outcome()


@pytest.fixture
def parked_waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[ParkedWaits]:
    parked = ParkedWaits(threshold=3600)
    real = WaitFunction._wait_interval

    def wait_interval(self: WaitFunction, env: Any, wait_seconds: int) -> None:
        if not parked.wait(wait_seconds):
            real(self, env, wait_seconds)

    monkeypatch.setattr(WaitFunction, "_wait_interval", wait_interval)
    real_token_wait = StateTaskServiceCallback._wait_for_task_token_timeout

    def token_wait(self: StateTaskServiceCallback, timeout_seconds: int, callback_endpoint: Any) -> Any:
        if timeout_seconds < parked.threshold:
            return real_token_wait(self, timeout_seconds, callback_endpoint)
        return parked.token_wait(callback_endpoint)

    monkeypatch.setattr(StateTaskServiceCallback, "_wait_for_task_token_timeout", token_wait)
    yield parked
    parked.release()
