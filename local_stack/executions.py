"""Waiting for Step Functions executions, which moto runs in background threads."""

from __future__ import annotations

import time
from typing import Any

from moto.core.responses import EmptyResult
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.responses import StepFunctionResponse

from local_stack._patch import Method

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


# A just-started execution's worker builds its ASL environment and enters its first state on its own
# thread; a stop before that raised AttributeError or was silently lost in moto, while AWS stops a
# RUNNING execution at any moment.
_WORKER_START_SECONDS = 30.0


def _stop_once_running(original: Method) -> Method:
    def stop(worker: ExecutionWorker, stop_date: Any, error: str | None, cause: str | None) -> None:
        deadline = time.monotonic() + _WORKER_START_SECONDS
        while worker.env is None or worker.env._program_state is None:  # no public "started" flag
            if time.monotonic() > deadline:
                raise RuntimeError("the execution's worker never started")
            time.sleep(0.005)
        original(worker, stop_date=stop_date, error=error, cause=cause)
        # A state waiting for a task token would sit out its timeout first; AWS stops it at once.
        for endpoint in list(worker.env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()

    return stop


def _failing_task_with_cause(original: Method) -> Method:
    """Moto's SendTaskFailure drops the `cause`; AWS hands it to the state's Catch with the error."""

    def send_task_failure(response: StepFunctionResponse) -> Any:
        backend: Any = response.stepfunction_backend  # the ASL interpreter's backend, whose call takes a cause
        backend.send_task_failure(
            response._get_param("taskToken"), error=response._get_param("error"), cause=response._get_param("cause")
        )
        return EmptyResult()

    return send_task_failure


def _unless_stopped(original: Method) -> Method:
    """A stopped execution stays ABORTED. Moto's stop interrupts a task token wait, which then ends as
    timed out; a Catch of States.Timeout (the bake's wait) ran on and its error overwrote the stop."""

    def settle(env: Environment, *args: Any, **kwargs: Any) -> None:
        if isinstance(env._program_state, ProgramStopped):  # no public accessor that does not copy
            return
        original(env, *args, **kwargs)

    return settle
