"""Lazily built, cached boto3 clients.

Built on first use, not at import, so tests can start their emulator before any client exists and
call `reset_clients()` between emulated accounts. Retries use the SDK's standard mode.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_stepfunctions import SFNClient

# Every call, its retries included, must end inside the shortest Lambda timeout (20 s): a call still
# waiting when Lambda kills the function loses its answer AND the step's chance to report an error.
# Worst case here: 3 attempts x (1 s connect + 4 s read) + backoff (at most 1 s + 2 s) = 18 s.
# tests/unit/test_sdk_timeouts.py checks this against every function's Timeout in template.yaml.
CONTROL_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=1,
    read_timeout=4,
    tcp_keepalive=True,
)
# InvokeEndpoint may take up to 60 s to answer (SageMaker's own limit): one attempt, the workflow retries.
RUNTIME_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=1,
    read_timeout=65,
    tcp_keepalive=True,
)


# One client per service per process, built under a lock: the local stack runs Lambda handlers on
# several threads at once (workflow steps, event deliveries), and two clients built by a race would
# split what one caller configures (fault injection, metering) from what another uses.
# One session for all of them: a session caches the loaded service models, endpoints and credentials,
# so each further client costs a fraction of the first (a session per client re-read them all, most
# of a cold start's first request). Sessions are not thread-safe, hence clients are built under the lock.
_lock = threading.Lock()
_clients: dict[str, Any] = {}
_sessions: list[boto3.session.Session] = []  # at most one


def _client(service: str, config: Config) -> Any:
    with _lock:
        if service not in _clients:
            if not _sessions:
                _sessions.append(boto3.session.Session())
            _clients[service] = _sessions[0].client(service, config=config)  # type: ignore[call-overload]
        return _clients[service]


def dynamodb() -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb", CONTROL_CONFIG)
    return client


def stepfunctions() -> SFNClient:
    client: SFNClient = _client("stepfunctions", CONTROL_CONFIG)
    return client


def sagemaker() -> SageMakerClient:
    client: SageMakerClient = _client("sagemaker", CONTROL_CONFIG)
    return client


def iam() -> IAMClient:
    client: IAMClient = _client("iam", CONTROL_CONFIG)
    return client


def cloudwatch() -> CloudWatchClient:
    client: CloudWatchClient = _client("cloudwatch", CONTROL_CONFIG)
    return client


def sagemaker_runtime() -> SageMakerRuntimeClient:
    client: SageMakerRuntimeClient = _client("sagemaker-runtime", RUNTIME_CONFIG)
    return client


def application_autoscaling() -> Any:  # no type stubs for Application Auto Scaling in the project's dependencies
    return _client("application-autoscaling", CONTROL_CONFIG)


def events() -> Any:  # no type stubs for EventBridge in the project's dependencies
    return _client("events", CONTROL_CONFIG)


def reset_clients() -> None:
    """Forget every cached client (tests switch emulated accounts between cases)."""
    with _lock:
        _clients.clear()
        _sessions.clear()
