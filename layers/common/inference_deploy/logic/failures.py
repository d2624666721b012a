"""Turning what Step Functions caught into a task's error."""

from __future__ import annotations

import json
from typing import Any

from inference_deploy.errors import DomainError
from inference_deploy.models.task import TaskError
from inference_deploy.models.workflow import StepFailure


def _domain_error_codes() -> dict[str, str]:
    codes: dict[str, str] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        codes[cls.__name__] = cls.code
        pending.extend(cls.__subclasses__())
    return codes


def failure_to_error(failure: StepFailure) -> TaskError:
    """Turn what Step Functions caught into the task's error: our own error classes keep their code;
    Step Functions and Lambda platform errors get a generic one; the message is Lambda's errorMessage."""
    message = failure.Cause or failure.Error
    if failure.Cause:
        try:
            cause: Any = json.loads(failure.Cause)
        except json.JSONDecodeError:
            cause = None
        if isinstance(cause, dict) and isinstance(cause.get("errorMessage"), str):
            message = cause["errorMessage"]
    codes = _domain_error_codes()
    if failure.Error in codes:
        code = codes[failure.Error]
    elif failure.Error in {"States.Timeout", "Sandbox.Timedout"}:
        code = "step_timeout"
    elif failure.Error.startswith(("Lambda.", "States.")):
        code = "step_failed"
    else:
        code = "internal_error"
    return TaskError(code=code, message=message[:1000])
