"""Idempotent task creation: a repeated request with the same Idempotency-Key gets the original answer.

Powertools' idempotency utility keeps one record per (caller, route, key) in the idempotency table for
an hour. The request body is the payload it validates, so the same key with another body is refused.
The Lambda context is registered so that an in-progress record expires when the invocation would have
timed out: a request killed mid-way never wedges its key. The persistence layer is built (and reset for
tests) in `dependencies`, with the other adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from inference_deploy.adapters.dynamo import error_code, translate
from inference_deploy.errors import ConfigurationError, IdempotencyKeyReused, RequestInProgress, StoreUnavailable
from inference_deploy.models.task import Task

KEY_LIFETIME_SECONDS = 3600


def run_once(
    work: Callable[[], Task],
    *,
    scope: dict[str, str],
    payload: dict[str, Any],
    persistence: DynamoDBPersistenceLayer,
    lambda_context: LambdaContext | None,
) -> Task:
    """Run `work` once per `scope` (caller, route, key); later calls in the hour get its Task back."""
    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="payload",
        expires_after_seconds=KEY_LIFETIME_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    def create_task_once(request: dict[str, Any]) -> Task:
        return work()

    once = idempotent_function(
        data_keyword_argument="request",
        config=config,
        persistence_store=persistence,
        output_serializer=PydanticSerializer(Task),
    )(create_task_once)
    try:
        task = once(request={"scope": scope, "payload": payload})
    except IdempotencyValidationError as exc:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request body; use a new key for a new request"
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise RequestInProgress("a request with this Idempotency-Key is still being handled; retry shortly") from exc
    except IdempotencyPersistenceLayerError as exc:
        raise _store_error(exc) from exc
    if not isinstance(task, Task):
        raise TypeError(f"idempotent replay returned {type(task).__name__}, not a Task")
    return task


def _store_error(exc: IdempotencyPersistenceLayerError) -> Exception:
    """Throttling and outages are retryable (503); a missing table or a refused permission is a
    deployment mistake no retry fixes (500). The AWS text stays in the log, never in the answer."""
    cause = exc.__cause__
    if isinstance(cause, BotoCoreError):
        return StoreUnavailable(f"the idempotency store is unavailable ({type(cause).__name__})")
    if not isinstance(cause, ClientError):
        return exc
    code = error_code(cause)
    if isinstance(translate(cause, "the idempotency store"), StoreUnavailable):
        return StoreUnavailable(f"the idempotency store is unavailable ({code})")
    return ConfigurationError(f"the idempotency store refused the request ({code}: {cause})")
