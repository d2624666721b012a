"""The task lifecycle as the workflows drive it: in_progress, then succeeded or failed with a reason; an
execution that ended without finishing its task hands the task to its repair (logic/repair.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.alarms import Alarms, made_alarm_names
from inference_deploy.adapters.executions import Repairs
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import CloudWatchUnavailable, TaskNotFinished, TaskNotFound
from inference_deploy.logic.failures import failure_to_error
from inference_deploy.logic.outcome import outcome_metadata
from inference_deploy.logic.repair import start_repair
from inference_deploy.models.task import DeployMetadata, Task, TaskError, TaskStatus, task_kind
from inference_deploy.models.workflow import (
    ExecutionStatusDetail,
    FinishTaskEvent,
    RetireBlueEvent,
    RetiredBlue,
    StepFailure,
)
from inference_deploy.observability import logger, metrics


def begin_task(task_id: str, store: TaskStore) -> Task:
    logger.append_keys(task_id=task_id)
    return store.mark_in_progress(task_id)


# Matches the final states' Retry on CloudWatchUnavailable (statemachine/*.asl.json): 1 + 2 retries.
ALARM_DELETE_ATTEMPTS = 3


def finish_task(event: FinishTaskEvent, store: TaskStore, alarms: Alarms | None = None) -> Task:
    """The terminal status, the error when it failed, what the steps did; frees the model's slot. A bake's
    own alarms go first: CloudWatch failing is retried by the state (CloudWatchUnavailable) and, on its
    last attempt, fails open: it must not turn a rollout that has ended into a failed one, so the alarms
    left are named in the metadata and the reconciler deletes them once the task has ended."""
    logger.append_keys(task_id=event.task_id)
    metadata = outcome_metadata(event.state, task_kind(event.task_id))
    if alarms is not None and _bake_made_alarms(event.state):
        try:
            alarms.delete_for_task(event.task_id)
        except CloudWatchUnavailable:
            if event.attempt < ALARM_DELETE_ATTEMPTS - 1:
                raise
            logger.warning("bake alarms not deleted; the task ends anyway", exc_info=True)
            metrics.add_metric(name="BakeAlarmsLeft", unit=MetricUnit.Count, value=1)
            if isinstance(metadata, DeployMetadata):
                metadata.bake_alarms_left = made_alarm_names(
                    event.task_id, _caller_alarms(event.state), _green_alarms(event.state)
                )
    error = None
    if event.status == TaskStatus.FAILED:
        error = failure_to_error(_why_failed(event))
        logger.warning("task failed", extra={"error_code": error.code})
    task = store.finish(event.task_id, event.embedding_model_id, event.status, error, metadata)
    # DeployTaskSucceeded, DeployTaskFailed, DeleteTaskSucceeded, DeleteTaskFailed
    outcome = f"{task.kind.value.capitalize()}Task{task.status.value.capitalize()}"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    return task


def finish_retired(event: RetireBlueEvent, retired: RetiredBlue, store: TaskStore, alarms: Alarms) -> Task | None:
    """The deploy's last step ends its task too: succeeded, with what RetireBlue did. Without the execution
    state (an execution started before this), MarkSucceeded does. Anything failing here is TaskNotFinished:
    blue is retired and the bake ended, so the workflow goes on to MarkSucceeded, which writes the same
    ending with its own retries (and leaves alarms it cannot delete to the reconciler), never to a
    rollback."""
    if event.state is None:
        return None
    state = {**event.state, "retired": retired.model_dump(mode="json")}
    ending = FinishTaskEvent(
        task_id=event.task_id, embedding_model_id=event.embedding_model_id, status=TaskStatus.SUCCEEDED, state=state
    )
    try:
        return finish_task(ending, store, alarms)
    except Exception as exc:  # whatever stops it, MarkSucceeded writes the same ending
        logger.warning("the task's ending not written; MarkSucceeded writes it", exc_info=True)
        # The message is what RetireBlue did, for MarkSucceeded's metadata (logic/outcome.py deferred_retire).
        raise TaskNotFinished(retired.model_dump_json()) from exc


def _why_failed(event: FinishTaskEvent) -> StepFailure:
    """The step's failure; for a cancel whose undoing then failed (a green SageMaker would not let go of,
    routing that could not be restored), the undoing's: the task failed because it could not be undone,
    not because it was cancelled."""
    failure = event.failure or StepFailure(Error="States.Unknown", Cause="the workflow failed")
    if failure.Error == "TaskCancelled":
        for key in ("cleanup_failure", "restore_failure"):
            undoing = event.state.get(key)
            if isinstance(undoing, dict):
                return StepFailure.model_validate(undoing)
    return failure


def _plan_bake(state: dict[str, Any]) -> dict[str, Any] | None:
    bake = (state.get("deployment") or {}).get("bake") if isinstance(state.get("deployment"), dict) else None
    return bake if isinstance(bake, dict) else None


def _bake_made_alarms(state: dict[str, Any]) -> bool:
    """The plan had a bake that watches alarms (a failed SwitchTraffic may have made one alarm of two)."""
    bake = _plan_bake(state)
    return bake is not None and bool(bake.get("seconds")) and (bool(_caller_alarms(state)) or _green_alarms(state))


def _green_alarms(state: dict[str, Any]) -> bool:
    """The plan's green_alarms; a plan from before it existed always made them."""
    value = (_plan_bake(state) or {}).get("green_alarms", True)
    return value if isinstance(value, bool) else True


def _caller_alarms(state: dict[str, Any]) -> list[str]:
    alarms = (_plan_bake(state) or {}).get("alarms")
    return [name for name in alarms if isinstance(name, str)] if isinstance(alarms, list) else []


ENDED_WITHOUT_FINISHING = {"FAILED", "TIMED_OUT", "ABORTED"}


def finish_abandoned_task(
    detail: ExecutionStatusDetail, store: TaskStore, models: ModelStore, repairs: Repairs
) -> Task | None:
    """An execution ended without its MarkSucceeded/MarkFailed (aborted by an operator, timed out, or
    failed in its last step): start the task's repair (logic/repair.py), which cleans up and ends the task
    with the truth; the task holds its slot until then. Nothing is deleted or re-routed here. A task that
    ended and freed its slot is left as it is; a repeated event finds the repair already started."""
    logger.append_keys(task_id=detail.name)
    if detail.status not in ENDED_WITHOUT_FINISHING or detail.name.startswith("repair-"):
        return None  # the rule matches the task workflows only; a repair is never repaired by another
    try:
        task = store.get(detail.name)
    except TaskNotFound:
        logger.warning("no task for the execution", extra={"execution_arn": detail.executionArn})
        return None
    # start_repair hands over the slot only while the task holds it: a task its workflow finished (a
    # failed rollout ends FAILED too) has freed it, and nothing is started.
    reason = ": ".join(part for part in (detail.error, detail.cause) if part)
    error = TaskError(
        code="execution_aborted",
        message=f"its execution ended {detail.status} without finishing the task" + (f" ({reason})" if reason else ""),
    )
    if start_repair(task, error, models, repairs):
        metrics.add_metric(name=f"{task.kind.value.capitalize()}TaskAbandoned", unit=MetricUnit.Count, value=1)
    return task
