"""A model's tasks, newest first, a page at a time: one Query per kind per page, never a Scan.

The page token is base64url JSON naming, per kind still to read, the last task of that kind already
returned; it is bound to the model and kind filter it was issued for, and anything else is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import InvalidPageToken, ModelHasNoTasks
from inference_deploy.models.common import MODEL_ID_PATTERN, TASK_ID_PATTERN, ModelId
from inference_deploy.models.task import Task, TaskKind, TaskPage
from inference_deploy.observability import logger

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_TOKEN_LENGTH = 1024
_ALL = "all"


class _Cursor(BaseModel):
    """Where the next page starts: per kind still to read, the last task returned (None: its newest)."""

    # defer_build: built by the first history request, not on the cold start of every read
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    v: Literal[1]
    model: ModelId
    kind: Literal["deploy", "delete", "all"]
    after: dict[TaskKind, str | None] = Field(min_length=1)


def task_history(
    embedding_model_id: str, kind: TaskKind | None, limit: int, next_token: str | None, store: TaskStore
) -> TaskPage:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit {limit} is outside 1..{MAX_LIMIT}")
    if re.fullmatch(MODEL_ID_PATTERN, embedding_model_id) is None:
        # An id in a path that cannot exist is a 404, as on every other route (a valid one without tasks: 200, empty).
        raise ModelHasNoTasks(f"no model {embedding_model_id!r}: not a SageMaker Model name this API accepts")
    kinds = [kind] if kind is not None else [TaskKind.DEPLOY, TaskKind.DELETE]
    scope = kind.value if kind is not None else _ALL
    after = _decode(next_token, embedding_model_id, scope, kinds) if next_token is not None else dict.fromkeys(kinds)
    logger.append_keys(embedding_model_id=embedding_model_id)

    fetched: dict[TaskKind, list[Task]] = {}
    older: dict[TaskKind, bool] = {}
    for each, start in after.items():
        fetched[each], older[each] = store.page_for_model(embedding_model_id, each, after=start, limit=limit)
    page = sorted((t for tasks in fetched.values() for t in tasks), key=_creation_order, reverse=True)[:limit]

    following: dict[TaskKind, str | None] = {}
    for each, start in after.items():
        returned = [t for t in page if t.kind is each]
        if len(fetched[each]) > len(returned) or older[each]:
            following[each] = returned[-1].id if returned else start
    token = _encode(_Cursor(v=1, model=embedding_model_id, kind=scope, after=following)) if following else None
    return TaskPage(tasks=page, next_token=token)


def _creation_order(task: Task) -> str:
    # Task ids end in a ULID, which sorts by creation time across both kinds (as the index's id does in one).
    return task.id.split("-", 1)[1]


def _encode(cursor: _Cursor) -> str:
    raw = cursor.model_dump_json().encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(token: str, embedding_model_id: str, scope: str, kinds: list[TaskKind]) -> dict[TaskKind, str | None]:
    refused = InvalidPageToken("next_token is not one this API issued for this model and kind; start again without it")
    if len(token) > MAX_TOKEN_LENGTH or re.fullmatch(r"[A-Za-z0-9_-]+", token) is None:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor = _Cursor.model_validate(json.loads(raw))
    except (binascii.Error, ValueError, UnicodeDecodeError, ValidationError, RecursionError):
        raise refused from None
    if cursor.model != embedding_model_id or cursor.kind != scope or not set(cursor.after) <= set(kinds):
        raise refused
    for each, start in cursor.after.items():
        if start is not None and (re.fullmatch(TASK_ID_PATTERN, start) is None or not start.startswith(f"{each}-")):
            raise refused
    return dict(cursor.after)
