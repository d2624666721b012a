"""Lazily built, cached boto3 clients.

Built on first use, not at import, so tests can start their emulator before any client exists and
call `reset_clients()` between emulated accounts. Retries use the SDK's standard mode.
"""

from __future__ import annotations

from functools import cache
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


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def dynamodb() -> DynamoDBClient:
    return _session().client("dynamodb", config=CONTROL_CONFIG)


@cache
def stepfunctions() -> SFNClient:
    return _session().client("stepfunctions", config=CONTROL_CONFIG)


@cache
def sagemaker() -> SageMakerClient:
    return _session().client("sagemaker", config=CONTROL_CONFIG)


@cache
def iam() -> IAMClient:
    return _session().client("iam", config=CONTROL_CONFIG)


@cache
def cloudwatch() -> CloudWatchClient:
    return _session().client("cloudwatch", config=CONTROL_CONFIG)


@cache
def sagemaker_runtime() -> SageMakerRuntimeClient:
    return _session().client("sagemaker-runtime", config=RUNTIME_CONFIG)


@cache
def events() -> Any:  # no type stubs for EventBridge in the project's dependencies
    return _session().client("events", config=CONTROL_CONFIG)


def reset_clients() -> None:
    """Forget every cached client (tests switch emulated accounts between cases)."""
    for factory in (_session, dynamodb, stepfunctions, sagemaker, sagemaker_runtime, iam, events, cloudwatch):
        factory.cache_clear()
