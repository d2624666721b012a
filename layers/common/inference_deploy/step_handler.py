"""The one wrapper every workflow-step Lambda uses: logging context, tracing, a typed event in,
a JSON-ready result out. Exceptions propagate on purpose: Lambda reports their class name as
`errorType`, which the state machines' Retry and Catch rules match.

Live progress: each state passes `progress` (its task id and `$$.State.Name`); the wrapper reads the task
consistently before the step (whether it is being cancelled, status `cancelling`, which a step that honours
cancel obeys) and, in one write after it, names the state as the task's current step and appends the run
(start, end, error): one progress write per step, not two; a step
that fails its state through a task token instead of raising reports that error in `failed_with`. A progress
write that fails is logged and counted, never raised: progress must not fail a rollout."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from inference_deploy import dependencies
from inference_deploy.adapters.task_store import StepStart, TaskStore
from inference_deploy.errors import TaskCancelled
from inference_deploy.models.common import utc_now
from inference_deploy.models.task import StepRun
from inference_deploy.models.workflow import StepProgress
from inference_deploy.observability import logger, metrics, tracer

type LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def workflow_step[EventT: BaseModel](
    model: type[EventT], *, honours_cancel: bool = False
) -> Callable[[Callable[[EventT], BaseModel | dict[str, Any]]], LambdaHandler]:
    """`honours_cancel`: a step that moves a rollout forward; on a task being cancelled it does nothing
    and raises TaskCancelled, which the state machine routes into the same compensation as a failure.
    Compensation steps (discard, roll back, restore, finish) leave it off: they are how a cancel ends."""

    def wrap(step: Callable[[EventT], BaseModel | dict[str, Any]]) -> LambdaHandler:
        @logger.inject_lambda_context(clear_state=True)
        @metrics.log_metrics
        @tracer.capture_lambda_handler
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            parsed = model.model_validate(event)
            for key in ("task_id", "embedding_model_id"):
                if isinstance(event.get(key), str):
                    logger.append_keys(**{key: event[key]})
            progress = _progress(event.get("progress"))
            started = utc_now()
            start = _started(progress, started) if progress is not None else None
            extends = start.extends if start is not None else None
            try:
                if honours_cancel and start is not None and start.cancelling:
                    raise TaskCancelled(f"task {event.get('task_id')} is being cancelled: step not run")
                result = step(parsed)
            except Exception as exc:
                if progress is not None:
                    _record_run(progress, started, extends, error=type(exc).__name__)
                raise
            if progress is not None:
                _record_run(progress, started, extends, error=_failed_with(result))
            return result.model_dump(mode="json") if isinstance(result, BaseModel) else result

        handler.__doc__ = step.__doc__
        return handler

    return wrap


def _progress(raw: Any) -> StepProgress | None:
    if raw is None:
        return None
    try:
        return StepProgress.model_validate(raw)
    except ValidationError:
        logger.warning("the step's progress reference is not understood; no progress recorded")
        return None


def _failed_with(result: object) -> str | None:
    """A step that fails its state through a task token (the green wait) names the error it sent."""
    error = getattr(result, "failed_with", None)
    return error if isinstance(error, str) else None


def _started(progress: StepProgress, started: datetime) -> StepStart | None:
    return _record(progress, lambda store: store.step_started(progress.task_id, progress.step, started))


def _record_run(progress: StepProgress, started: datetime, extends: int | None, *, error: str | None) -> None:
    run = StepRun(step=progress.step, started_at=started, ended_at=utc_now(), error=error)
    _record(progress, lambda store: store.step_ended(progress.task_id, run, extends=extends))


def _record[T](progress: StepProgress, write: Callable[[TaskStore], T]) -> T | None:
    try:
        return write(dependencies.task_store())
    except Exception:  # noqa: BLE001 - whatever breaks a progress write, the rollout goes on
        logger.warning("task progress not recorded", extra={"step": progress.step}, exc_info=True)
        metrics.add_metric(name="TaskProgressNotRecorded", unit=MetricUnit.Count, value=1)
        return None
