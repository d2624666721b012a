"""Step Functions executions: one per task, named by the task id."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from inference_deploy.adapters import aws
from inference_deploy.errors import ExecutionStartFailed, WorkflowServiceUnavailable
from inference_deploy.models.task import TaskKind

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN an execution of `state_machine_arn` named `name` has, known before it starts."""
    prefix, _, machine = state_machine_arn.partition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def repair_execution_name(task_id: str) -> str:
    """One repair per task: whoever starts it second finds it already started (ExecutionAlreadyExists)."""
    return f"repair-{task_id}"


class Executions:
    def __init__(self, state_machines: Mapping[TaskKind, str], client: SFNClient | None = None) -> None:
        self._machines = dict(state_machines)
        self._client = client or aws.stepfunctions()

    def arn_for(self, kind: TaskKind, name: str) -> str:
        return execution_arn(self._machines[kind], name)

    def start(self, kind: TaskKind, name: str, payload: BaseModel) -> str:
        """Start the execution. Standard workflows treat a repeated name with the same input as the
        same execution, so a retried start is harmless."""
        try:
            response = self._client.start_execution(
                stateMachineArn=self._machines[kind], name=name, input=payload.model_dump_json()
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise ExecutionStartFailed(f"could not start the {kind.value} workflow ({code})") from exc
        except BotoCoreError as exc:  # no answer: the execution may have started (the caller checks)
            raise ExecutionStartFailed(f"no answer starting the {kind.value} workflow ({type(exc).__name__})") from exc
        return response["executionArn"]

    def status(self, arn: str) -> str | None:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED…, or None if there is no such execution."""
        try:
            return self._client.describe_execution(executionArn=arn)["status"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return None
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            raise WorkflowServiceUnavailable(f"could not read execution {arn} ({code})") from exc
        except BotoCoreError as exc:
            raise WorkflowServiceUnavailable(f"no answer reading execution {arn} ({type(exc).__name__})") from exc


class Repairs:
    """Repair executions (statemachine/repair.asl.json): at most one per task, named after it."""

    def __init__(self, state_machine_arn: str, client: SFNClient | None = None) -> None:
        self._machine = state_machine_arn
        self._client = client or aws.stepfunctions()

    def arn_for(self, task_id: str) -> str:
        return execution_arn(self._machine, repair_execution_name(task_id))

    def start(self, task_id: str, payload: BaseModel) -> bool:
        """Start the task's repair; False if it was started before (by another delivery of the same
        event, or by the sweep): the name makes the start idempotent whatever the input says."""
        try:
            self._client.start_execution(
                stateMachineArn=self._machine, name=repair_execution_name(task_id), input=payload.model_dump_json()
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code == "ExecutionAlreadyExists":
                return False
            raise ExecutionStartFailed(f"could not start the repair of {task_id} ({code})") from exc
        except BotoCoreError as exc:  # no answer: it may have started; a repeat start says so
            raise ExecutionStartFailed(f"no answer starting the repair of {task_id} ({type(exc).__name__})") from exc
        return True


# SendTask* answers these when the token's task already ended (settled by someone else, timed out,
# or its execution stopped): nothing is waiting on it any more.
_SETTLED_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


class TaskTokens:
    """Completes the task tokens of `.waitForTaskToken` states (the green wait)."""

    def __init__(self, client: SFNClient | None = None) -> None:
        self._client = client or aws.stepfunctions()

    def succeed(self, token: str, output: BaseModel) -> bool:
        """True if this call completed the wait; False if nothing waits on the token any more."""
        return self._send(lambda: self._client.send_task_success(taskToken=token, output=output.model_dump_json()))

    def fail(self, token: str, error: str, message: str) -> bool:
        """Fail the wait with `error` (matched by the state's Catch) and a Lambda-shaped cause."""
        cause = json.dumps({"errorType": error, "errorMessage": message})
        return self._send(lambda: self._client.send_task_failure(taskToken=token, error=error, cause=cause[:32768]))

    def _send(self, call: Callable[[], object]) -> bool:
        try:
            call()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code in _SETTLED_CODES:
                return False
            raise WorkflowServiceUnavailable(f"could not complete a task token ({code})") from exc
        except BotoCoreError as exc:
            raise WorkflowServiceUnavailable(f"no answer completing a task token ({type(exc).__name__})") from exc
        return True
