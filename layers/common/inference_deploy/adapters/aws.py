"""Lazily built, cached boto3 clients.

Built on first use, not at import, so tests can start their emulator before any client exists and
call `reset_clients()` between emulated accounts. Retries use the SDK's standard mode.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_stepfunctions import SFNClient

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=10,
    tcp_keepalive=True,
)


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def dynamodb() -> DynamoDBClient:
    return _session().client("dynamodb", config=_CONFIG)


@cache
def stepfunctions() -> SFNClient:
    return _session().client("stepfunctions", config=_CONFIG)


@cache
def sagemaker() -> SageMakerClient:
    return _session().client("sagemaker", config=_CONFIG)


@cache
def sagemaker_runtime() -> SageMakerRuntimeClient:
    return _session().client("sagemaker-runtime", config=_CONFIG)


def reset_clients() -> None:
    """Forget every cached client (tests switch emulated accounts between cases)."""
    for factory in (_session, dynamodb, stepfunctions, sagemaker, sagemaker_runtime):
        factory.cache_clear()
