"""Cancelling a task: a request the workflow honours, not a stop.

The cancel marks the task `cancelling` (with who and why) in one transaction with a check that it can
still be undone: active; a deploy whose green does not serve, or serves while baking (blue is still
there to go back to); a delete whose removal has not begun. The workflow's commits past which a task
cannot be undone (the switch, the end of a bake, a delete's first endpoint delete) check the mark in
theirs, so of a cancel and such a commit exactly one lands. A task waiting for green or in its bake is
woken (its stored task token failed with TaskCancelled); every other step sees the mark when it starts (the step
wrapper) and raises TaskCancelled, which the state machine routes into the same compensation as any
failure: discard green (waiting while SageMaker refuses), roll back during a bake, restore routing of a
delete. The workflow then ends the task `cancelled`, saying what it cleaned. StopExecution stays an
operator's last resort: an execution stopped that way is finished by the model's repair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.errors import TaskNotCancellable, TaskNotFound
from inference_deploy.models.common import utc_now
from inference_deploy.models.task import Task, TaskKind, TaskMetadata, TaskStatus
from inference_deploy.observability import logger, metrics


class CancelStore(Protocol):
    """What a cancel needs of the task store (adapters/task_store.py TaskStore)."""

    def get(self, task_id: str) -> Task: ...

    def request_cancel(self, task: Task, cancellation: TaskMetadata) -> bool: ...

    def wait_token(self, task_id: str) -> str | None: ...


class WaitTokens(Protocol):
    """What a cancel needs to wake a waiting workflow (adapters/executions.py TaskTokens)."""

    def fail(self, token: str, error: str, message: str) -> bool: ...


def cancel_task(
    kind: TaskKind,
    task_id: str,
    *,
    cancelled_by: str,
    reason: str | None,
    store: CancelStore,
    tokens: WaitTokens,
    authorize: Callable[[Task], object] = lambda task: None,
) -> Task:
    """The task as the cancel left it: `cancelling` (the workflow is undoing it) or already `cancelled`;
    a repeat answers the task as stored and changes nothing. TaskNotCancellable (409) once it ended
    otherwise or is past undoing. `authorize` sees the task once it is known to be of this kind, before
    anything is written, and raises to refuse."""
    logger.append_keys(task_id=task_id)
    task = store.get(task_id)
    if task.kind is not kind:
        raise TaskNotFound(f"no {kind.value} task {task_id}")
    authorize(task)
    if task.status is TaskStatus.CANCELLED:
        return task
    if task.status.is_terminal:
        raise TaskNotCancellable(f"task {task_id} is {task.status.value}", task.status.value)
    if task.status is not TaskStatus.CANCELLING:
        cancellation = TaskMetadata(cancelled_by=cancelled_by, cancel_requested_at=utc_now())
        if reason:
            cancellation.cancel_reason = reason
        if store.request_cancel(task, cancellation):
            metrics.add_metric(name=f"{kind.value.capitalize()}TaskCancelRequested", unit=MetricUnit.Count, value=1)
    # Also on a repeat: the first cancel may have recorded its mark and lost the wake (503, retried).
    _wake(task_id, store, tokens)
    return store.get(task_id)


def _wake(task_id: str, store: CancelStore, tokens: WaitTokens) -> None:
    """Fail the wait the task is in (for green, or its bake), if any: it would otherwise sleep until green
    settles or the bake ends. A wait that begins after the mark refuses to (TaskStore.await_green,
    TaskStore.await_bake), so no wait is missed."""
    token = store.wait_token(task_id)
    if token is None:
        return
    woken = tokens.fail(token, "TaskCancelled", f"task {task_id} was cancelled while it waited")
    logger.info("cancel requested", extra={"wait_woken": woken})
