"""The event-driven wait for green: a task token on the task item, completed by whoever sees green settle.

The deploy workflow's AwaitGreen state stores its task token (with green's name and deadline) on the
task item, then looks at green once: green may have settled before the token was stored, and that
look also serves as the fallback when the wait times out (a lost event costs one wait of delay).
SageMaker's "Endpoint State Change" event looks again and completes the token. Both sides decide by
DescribeEndpoint, never by the event's own status, so a late, repeated or out-of-order event is harmless.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from inference_deploy.adapters.executions import TaskTokens
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import GreenFailed, GreenTimeout
from inference_deploy.logic.green_deploy import NOT_VISIBLE_YET, check_green
from inference_deploy.models.common import TASK_ID_PATTERN, format_timestamp
from inference_deploy.models.serving import EndpointRef
from inference_deploy.models.task import TaskKind
from inference_deploy.models.workflow import AwaitGreenEvent, CheckGreenEvent, EndpointStateChange, GreenWait
from inference_deploy.observability import logger

_ULID_LENGTH = 26
# Statuses after which green will not change without someone acting (the event spells them IN_SERVICE...).
_SETTLED_STATUSES = {"inservice", "failed", "outofservice", "deleting"}
# Pauses before the extra looks of a wait whose green DescribeEndpoint does not show yet: its event may
# have gone by before the token was stored, and nothing else would look before GreenEventWaitSeconds.
RELOOK_PAUSES_SECONDS: tuple[float, ...] = (0.5, 1.0, 2.0)


def await_green(
    event: AwaitGreenEvent,
    store: TaskStore,
    sagemaker: SageMaker,
    tokens: TaskTokens,
    *,
    relook_pauses: Sequence[float] = RELOOK_PAUSES_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> GreenWait:
    """Store the wait's token for the event, then look (green may already be settled, its event gone by).

    A green not visible yet is looked at again after short pauses: its InService event may have been
    published before the token was stored, and a late event after this look's success is harmless
    (its SendTaskSuccess finds the token completed)."""
    store.await_green(event.task_id, event.green.endpoint_name, format_timestamp(event.deadline), event.task_token)
    result = settle_green(event.green, event.deadline, event.task_token, sagemaker, tokens)
    for pause in relook_pauses:
        if result.status != NOT_VISIBLE_YET:
            break
        sleep(pause)
        result = settle_green(event.green, event.deadline, event.task_token, sagemaker, tokens)
    return result


def resume_green_wait(
    event: EndpointStateChange, store: TaskStore, sagemaker: SageMaker, tokens: TaskTokens
) -> GreenWait | None:
    """An endpoint changed state: if it is the green a deploy task waits for, settle that wait."""
    status = (event.detail.EndpointStatus or "").replace("_", "").lower()
    if status and status not in _SETTLED_STATUSES:
        return None
    task_id = _deploy_task_of(event.detail.EndpointName)
    if task_id is None:
        return None
    wait = store.green_wait(task_id)
    if wait is None or wait.endpoint_name.lower() != event.detail.EndpointName.lower():
        return None  # not a green this service waits for (or a name that only looks like one)
    green = EndpointRef(endpoint_name=wait.endpoint_name, endpoint_config_name=wait.endpoint_name)
    result = settle_green(green, datetime.fromisoformat(wait.deadline), wait.token, sagemaker, tokens)
    logger.info("green state change", extra={"task_id": task_id, "status": result.status, "settled": result.settled})
    return result


def settle_green(
    green: EndpointRef, deadline: datetime, token: str, sagemaker: SageMaker, tokens: TaskTokens
) -> GreenWait:
    """Complete the token if green is InService (success), Failed, gone or past its deadline (failure)."""
    try:
        status = check_green(CheckGreenEvent(green=green, deadline=deadline), sagemaker)
    except (GreenFailed, GreenTimeout) as exc:
        return GreenWait(status=type(exc).__name__, settled=tokens.fail(token, type(exc).__name__, str(exc)))
    if status.in_service:
        return GreenWait(status=status.status, settled=tokens.succeed(token, status))
    return GreenWait(status=status.status, settled=False)


def _deploy_task_of(endpoint_name: str) -> str | None:
    """The deploy task a green endpoint name belongs to (naming.green_endpoint ends in its ULID)."""
    if len(endpoint_name) <= _ULID_LENGTH or endpoint_name[-_ULID_LENGTH - 1] != "-":
        return None
    task_id = f"{TaskKind.DEPLOY.value}-{endpoint_name[-_ULID_LENGTH:].upper()}"
    return task_id if re.fullmatch(TASK_ID_PATTERN, task_id) else None
