"""Waiting for Step Functions executions, which moto runs in background threads."""

from __future__ import annotations

import threading
import time
from typing import Any

from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from local_stack._patch import Method, MethodPatch, PatchSet

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


# A just-started execution's worker builds its ASL environment on its own thread; until then moto's
# StopExecution fails with AttributeError, while AWS stops a RUNNING execution at any moment.
_ENVIRONMENT_READY_SECONDS = 30.0


def _announce_environment(original: Method) -> Method:
    def get_environment(worker: ExecutionWorker) -> Any:
        environment = original(worker)
        worker.__dict__["_emulator_environment"] = environment
        _ready(worker).set()
        return environment

    return get_environment


def _stop_once_started(original: Method) -> Method:
    def stop(worker: ExecutionWorker, stop_date: Any, error: str | None, cause: str | None) -> None:
        if worker.env is None and not _ready(worker).wait(_ENVIRONMENT_READY_SECONDS):
            raise RuntimeError("the execution's worker never started")
        environment = worker.env or worker.__dict__["_emulator_environment"]
        environment.set_stop(stop_date=stop_date, cause=cause, error=error)

    return stop


def _ready(worker: ExecutionWorker) -> threading.Event:
    event: threading.Event = worker.__dict__.setdefault("_emulator_environment_ready", threading.Event())
    return event


class StoppableExecutions(PatchSet):
    """StopExecution works on an execution whose worker has not yet started, as in AWS."""

    patches = (
        MethodPatch(ExecutionWorker, "_get_evaluation_environment", _announce_environment),
        MethodPatch(ExecutionWorker, "stop", _stop_once_started),
    )
