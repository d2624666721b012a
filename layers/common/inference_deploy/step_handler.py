"""The one wrapper every workflow-step Lambda uses: logging context, tracing, a typed event in,
a JSON-ready result out. Exceptions propagate on purpose: Lambda reports their class name as
`errorType`, which the state machines' Retry and Catch rules match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from inference_deploy.observability import logger, metrics, tracer

type LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def workflow_step[EventT: BaseModel](
    model: type[EventT],
) -> Callable[[Callable[[EventT], BaseModel | dict[str, Any]]], LambdaHandler]:
    def wrap(step: Callable[[EventT], BaseModel | dict[str, Any]]) -> LambdaHandler:
        @logger.inject_lambda_context(clear_state=True)
        @metrics.log_metrics
        @tracer.capture_lambda_handler
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            parsed = model.model_validate(event)
            for key in ("task_id", "embedding_model_id"):
                if isinstance(event.get(key), str):
                    logger.append_keys(**{key: event[key]})
            result = step(parsed)
            return result.model_dump(mode="json") if isinstance(result, BaseModel) else result

        handler.__doc__ = step.__doc__
        return handler

    return wrap
