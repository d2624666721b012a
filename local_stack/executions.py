"""Waiting for Step Functions executions, which moto runs in background threads."""

from __future__ import annotations

import time
from typing import Any

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


class ExecutionTimeout(TimeoutError):
    """The execution was still running when the wait gave up."""


def wait_for_execution(
    sfn: Any, execution_arn: str, *, timeout: float = 10.0, interval: float = 0.02
) -> dict[str, Any]:
    """Poll DescribeExecution until the execution ends; return the last description."""
    deadline = time.monotonic() + timeout
    while True:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] in TERMINAL_STATUSES:
            return description
        if time.monotonic() > deadline:
            raise ExecutionTimeout(f"{execution_arn} still {description['status']} after {timeout}s")
        time.sleep(interval)
