"""The one repair path: a task whose execution ended without finishing it (aborted, timed out, failed in
its last step, never started) is handed to a repair execution (statemachine/repair.asl.json) that
converges what exists to the serving record, with retried and waited steps, then ends the task with the
truth. The abandonment handler and the unstarted-task sweep only start it; neither deletes nor
re-routes anything itself, so no two actors ever clean the same model at once.

The repaired task keeps its model's slot (the slot names the repair execution from its start) until the
repair ends it, and a round touches nothing once the task no longer holds it: every endpoint of the model
that the serving record does not name is then garbage of this very task, never another task's green.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.alarms import Alarms, own_alarm_names
from inference_deploy.adapters.executions import Repairs
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import EndpointBusy
from inference_deploy.logic.endpoints import DELETING, delete_when_allowed
from inference_deploy.models.common import utc_now
from inference_deploy.models.repair import ConvergeEvent, EndRepairEvent, RepairInput, RepairRound
from inference_deploy.models.serving import ServingRecord
from inference_deploy.models.settings import RepairSettings
from inference_deploy.models.task import Task, TaskError, TaskKind, TaskMetadata, TaskStatus
from inference_deploy.naming import model_resource_tags, name_prefix
from inference_deploy.observability import logger, metrics

IN_SERVICE = "InService"


# ---------------------------------------------------------------- starting a repair


def start_repair(task: Task, reason: TaskError, models: ModelStore, repairs: Repairs) -> bool:
    """Hand the task's slot to its repair, then start the repair (named after the task: a second start,
    from a repeated event or the sweep, is a no-op). False if the task no longer holds its slot (nothing
    of the model is the task's to clean any more) or the repair was already started.

    The slot names the repair before it starts, so a lost start looks like an execution that never
    started: the sweep starts it again once the start grace has passed."""
    if not models.hand_slot_to(task.embedding_model_id, task.id, repairs.arn_for(task.id)):
        logger.info("the task no longer holds its slot: nothing to repair", extra={"task_id": task.id})
        return False
    started = repairs.start(
        task.id, RepairInput(task_id=task.id, embedding_model_id=task.embedding_model_id, reason=reason)
    )
    if started:
        logger.warning("repair started", extra={"task_id": task.id, "reason": reason.code})
        metrics.add_metric(name=f"{task.kind.value.capitalize()}TaskRepairStarted", unit=MetricUnit.Count, value=1)
    return started


# ---------------------------------------------------------------- one round of convergence


@dataclass
class _Round:
    discarded: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    configs_deleted: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    alarms_removed: list[str] = field(default_factory=list)
    rolled_back_to: str | None = None
    bake_ended: bool = False
    kept_green: str | None = None
    routing_restored: bool = False
    removal_finished: bool = False


def is_cancelled(task: Task) -> bool:
    return task.metadata.cancelled_by is not None or task.status is TaskStatus.CANCELLING


def converge_model(
    event: ConvergeEvent,
    store: TaskStore,
    models: ModelStore,
    sagemaker: SageMaker,
    alarms: Alarms,
    *,
    settings: RepairSettings,
    now: datetime | None = None,
) -> RepairRound:
    """One round: settle a bake or a half-done removal on the serving record, then delete every endpoint
    of the model (this stack's) that the record does not name, and the task's bake alarms. Not done while
    SageMaker refuses a delete (Creating, Updating...): the state machine waits and asks again, until the
    deadline (RemovalTimeoutSeconds, plus GreenTimeoutSeconds for a deploy whose green may be Creating)."""
    now = now or utc_now()
    so_far = event.so_far
    task = store.get(event.task_id)
    holder = models.active_task(task.embedding_model_id)
    if holder is None or holder.task_id != task.id:
        logger.warning("the task no longer holds its slot: the repair touches nothing")
        return so_far.model_copy(update={"done": True, "slot_held": False, "rounds": so_far.rounds + 1, "left": []})
    done = _Round()
    before = models.serving(task.embedding_model_id)
    keep_routing: ServingRecord | None = None
    if task.kind is TaskKind.DEPLOY:
        _settle_bake(task, before, models, sagemaker, done, now=now)
        done.alarms_removed = _remove_alarms(task.id, alarms)
    else:
        keep_routing = _settle_removal(task, before, models, sagemaker, done)
    record = models.serving(task.embedding_model_id) or keep_routing
    green_serves = task.kind is TaskKind.DEPLOY and record is not None and record.task_id == task.id
    _delete_unserved(
        task, record, sagemaker, done, green_serves=green_serves, deployment_target=settings.deployment_target
    )
    timeout = settings.removal_timeout_seconds + (settings.green_timeout_seconds if task.kind is TaskKind.DEPLOY else 0)
    finished = not done.left
    if finished and task.kind is TaskKind.DELETE and record is None:
        done.removal_finished = True
    result = RepairRound(
        done=finished,
        past_deadline=now >= event.started_at + timedelta(seconds=timeout),
        wait_seconds=settings.green_poll_seconds,
        rounds=so_far.rounds + 1,
        discarded=_union(so_far.discarded, done.discarded),
        retired=_union(so_far.retired, done.retired),
        configs_deleted=_union(so_far.configs_deleted, done.configs_deleted),
        rolled_back_to=so_far.rolled_back_to or done.rolled_back_to,
        bake_ended=so_far.bake_ended or done.bake_ended,
        kept_green=so_far.kept_green or done.kept_green,
        alarms_removed=_union(so_far.alarms_removed, done.alarms_removed),
        routing_restored=so_far.routing_restored or done.routing_restored,
        removal_finished=so_far.removal_finished or done.removal_finished,
        left=sorted(done.left),
    )
    logger.info("repair round", extra={"repair": result.summary(), "done": result.done})
    return result


def _settle_bake(
    task: Task, record: ServingRecord | None, models: ModelStore, sagemaker: SageMaker, done: _Round, *, now: datetime
) -> None:
    """Green serves with blue kept as `previous`: a bake whose end has passed (and was not cancelled) is
    over, so blue retires; otherwise go back to blue if it still serves, or else keep green and say why."""
    if record is None or record.task_id != task.id or record.previous is None:
        return
    previous = record.previous
    over = record.bake_ends_at is None or record.bake_ends_at <= now
    if over and not is_cancelled(task):
        done.bake_ended = models.end_bake(task.embedding_model_id, task.id)
        return
    state = sagemaker.endpoint_state(previous.endpoint_name)
    if state is not None and state.status == IN_SERVICE:
        if models.roll_back(task.embedding_model_id, task.id, previous):
            done.rolled_back_to = previous.endpoint_name
            logger.warning("bake interrupted: rolled back", extra={"endpoint_name": previous.endpoint_name})
        return
    done.bake_ended = models.end_bake(task.embedding_model_id, task.id)
    done.kept_green = (
        f"{previous.endpoint_name} is {state.status if state else 'gone'}: nothing to roll back to, "
        f"green ({record.endpoint_name}) keeps serving and the bake was ended"
    )
    logger.warning("bake interrupted, blue not InService: green kept", extra={"endpoint_name": previous.endpoint_name})


def _settle_removal(
    task: Task, record: ServingRecord | None, models: ModelStore, sagemaker: SageMaker, done: _Round
) -> ServingRecord | None:
    """A delete stopped after unrouting: route back to its endpoint while it still serves, else finish
    the removal. Returns the record restored (kept, whatever the next read says)."""
    if record is not None:
        return None  # never unrouted, or already routed back: nothing is half done
    unrouted = models.unrouted(task.embedding_model_id)
    if unrouted is None:
        return None
    state = sagemaker.endpoint_state(unrouted.endpoint_name)
    if state is None or state.status != IN_SERVICE:
        return None  # going or gone: the removal is finished below
    if models.restore(unrouted):
        done.routing_restored = True
        logger.warning("abandoned delete undone: routing restored", extra={"endpoint_name": unrouted.endpoint_name})
        return unrouted
    return None


def _delete_unserved(
    task: Task,
    record: ServingRecord | None,
    sagemaker: SageMaker,
    done: _Round,
    *,
    green_serves: bool,
    deployment_target: str,
) -> None:
    """Delete the model's endpoints and configs (this stack's) the record does not name; an endpoint
    SageMaker will not delete yet is `left` for the next round, its config kept with it."""
    keep = set()
    if record is not None:
        keep = {record.endpoint_name, record.endpoint_config_name}
        if record.previous is not None:
            keep |= {record.previous.endpoint_name, record.previous.endpoint_config_name}
    prefix = name_prefix(task.embedding_model_id)
    tags = model_resource_tags(task.embedding_model_id, deployment_target)
    busy: set[str] = set()
    for endpoint in list(sagemaker.endpoints_tagged(prefix, tags)):
        if endpoint.name in keep or endpoint.status == DELETING:
            continue
        try:
            deleted = delete_when_allowed(endpoint.name, sagemaker)
        except EndpointBusy:
            busy.add(endpoint.name)
            continue
        if deleted:
            # With its own green serving, every other endpoint is the blue it replaced.
            (done.retired if green_serves else done.discarded).append(endpoint.name)
    for config in list(sagemaker.endpoint_configs_tagged(prefix, tags)):
        if config in keep or config in busy:
            continue
        if sagemaker.delete_endpoint_config(config):
            done.configs_deleted.append(config)
    done.left = sorted(busy)


def _remove_alarms(task_id: str, alarms: Alarms) -> list[str]:
    """The task's bake alarms that existed, deleted (whatever path the rollout ended on)."""
    names = own_alarm_names(task_id)
    existing = [name for name in names if name not in set(alarms.missing(names))]
    if existing:
        alarms.delete_for_task(task_id)
    return existing


def _union(a: list[str], b: list[str]) -> list[str]:
    return sorted(set(a) | set(b))


# ---------------------------------------------------------------- ending the task


def end_repaired_task(event: EndRepairEvent, store: TaskStore, models: ModelStore) -> Task:
    """End the task with what is true now, freeing its slot in the same write: `succeeded` if its intended
    end holds (a deploy's green serves with no previous; a delete left nothing and the model unrouted),
    `cancelled` if a cancel was asked and the rollout is undone, else `failed` with the reason the repair
    was started for. A task already terminal keeps its status: only its slot is freed."""
    logger.append_keys(task_id=event.task_id)
    task = store.get(event.task_id)
    record = models.serving(task.embedding_model_id)
    repair = event.repair
    converged = event.failure is None and repair.done and not repair.left
    if task.kind is TaskKind.DEPLOY:
        intended = record is not None and record.task_id == task.id and record.previous is None
        undone = record is None or record.task_id != task.id
    else:
        intended = record is None and converged
        undone = record is not None
    error: TaskError | None = None
    if intended:
        status = TaskStatus.SUCCEEDED
    elif is_cancelled(task) and undone:
        status = TaskStatus.CANCELLED
    else:
        status = TaskStatus.FAILED
        error = _failure(event)
    metadata = TaskMetadata(repair=repair.summary())
    if event.failure is not None:
        metadata.repair_failure = event.failure.model_dump()
    if task.status.is_terminal:
        logger.info("the task had ended: the repair only frees its slot", extra={"status": task.status.value})
    finished = store.finish(task.id, task.embedding_model_id, status, error, metadata)
    metrics.add_metric(
        name=f"{task.kind.value.capitalize()}TaskRepaired{finished.status.value.capitalize()}",
        unit=MetricUnit.Count,
        value=1,
    )
    return finished


def _failure(event: EndRepairEvent) -> TaskError:
    if event.failure is not None:
        return TaskError(
            code="repair_failed",
            message=f"{event.reason.message}; its repair failed too ({event.failure.Error}): "
            "the reconciler removes what is left",
        )
    if event.repair.left:
        return TaskError(
            code=event.reason.code,
            message=f"{event.reason.message}; SageMaker would not delete {', '.join(event.repair.left)} "
            "by the repair's deadline: the reconciler removes it",
        )
    return event.reason
