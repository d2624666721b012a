"""Creating tasks: one per model at a time, recorded with their slot, started as one execution each."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import (
    AlarmsNotAllowed,
    DomainError,
    ExecutionStartFailed,
    ModelBusy,
    ModelNotServed,
    TaskNotFound,
    UnknownAlarms,
    WorkflowServiceUnavailable,
)
from inference_deploy.ids import new_task_id
from inference_deploy.models.common import utc_now
from inference_deploy.models.plan import BakePlan, CompatibilityPlan, DeploymentPlan, ExecutionInput, Timing
from inference_deploy.models.requests import DeleteRequest, DeployRequest
from inference_deploy.models.serving import ModelOwner
from inference_deploy.models.settings import CreateTaskSettings
from inference_deploy.models.task import ActiveTask, DeleteMetadata, DeployMetadata, Task, TaskError, TaskKind
from inference_deploy.naming import green_endpoint
from inference_deploy.observability import logger, metrics

if TYPE_CHECKING:  # adapters the caller passes in (dependencies.py imports each on first use)
    from inference_deploy.adapters.alarms import Alarms
    from inference_deploy.adapters.executions import Executions, Repairs


def _plan(request: DeployRequest, task_id: str, settings: CreateTaskSettings) -> DeploymentPlan:
    bake_seconds = _asked_bake_seconds(request, settings)
    return DeploymentPlan(
        instance_type=request.instance_type or settings.default_instance_type,
        initial_instance_count=request.initial_instance_count or settings.default_instance_count,
        instance_count_requested=request.initial_instance_count is not None,
        max_instance_count=settings.max_instance_count,
        autoscaling=request.autoscaling,
        allow_dimension_change=request.allow_dimension_change,
        deployment_target=settings.deployment_target,
        green=green_endpoint(request.embedding_model_id, task_id),
        bake=BakePlan(
            seconds=max(bake_seconds, settings.drain_seconds) if bake_seconds > 0 else 0,
            requested=request.bake_seconds is not None,
            alarms=list(request.rollback_alarms),
            green_alarms=request.green_alarms,
            error_threshold=settings.bake_error_threshold,
            latency_threshold_ms=settings.bake_latency_threshold_ms,
        ),
        compatibility=CompatibilityPlan(
            min_mean_cosine=settings.embedding_min_mean_cosine
            if request.min_mean_cosine is None
            else request.min_mean_cosine,
            allow_change=request.allow_embedding_change,
            probe_texts=request.probe_texts,
        ),
    )


def _asked_bake_seconds(request: DeployRequest, settings: CreateTaskSettings) -> int:
    """The bake the request asks for, else the stack's (the plan's lasts at least the drain)."""
    return settings.bake_seconds if request.bake_seconds is None else request.bake_seconds


def _deploy_metadata(
    plan: DeploymentPlan, bake_seconds: int, initiated_by: str, requested_by: dict[str, Any]
) -> DeployMetadata:
    metadata = DeployMetadata(
        deployment_target=plan.deployment_target,
        initiated_by=initiated_by,
        requested_by=requested_by,
        instance_type=plan.instance_type,
        initial_instance_count=plan.initial_instance_count,
        allow_dimension_change=plan.allow_dimension_change,
        instance_count_requested=plan.instance_count_requested,
        autoscaling_requested=plan.autoscaling.model_dump() if plan.autoscaling else None,
        endpoint_name=plan.green.endpoint_name,
        endpoint_config_name=plan.green.endpoint_config_name,
    )
    if plan.bake:
        metadata.bake_seconds = bake_seconds
        metadata.rollback_alarms = plan.bake.alarms
        metadata.green_alarms = plan.bake.green_alarms
    if plan.compatibility:
        metadata.allow_embedding_change = plan.compatibility.allow_change
        metadata.min_mean_cosine = plan.compatibility.min_mean_cosine
        metadata.probe_set = "request" if plan.compatibility.probe_texts else "default"
    return metadata


def check_rollback_alarms(request: DeployRequest, alarms: Alarms, prefix: str) -> None:
    """Every alarm a deploy request names must be one callers may name (`prefix`, checked first and without
    looking anything up) and exist (one DescribeAlarms), before anything is written."""
    outside = [name for name in request.rollback_alarms if not name.startswith(prefix)]
    if outside:
        raise AlarmsNotAllowed(outside, prefix)
    if request.rollback_alarms:
        missing = alarms.missing(request.rollback_alarms)
        if missing:
            raise UnknownAlarms(missing)


def _delete_metadata(
    request: DeleteRequest, initiated_by: str, requested_by: dict[str, Any], deployment_target: str
) -> DeleteMetadata:
    metadata = DeleteMetadata(
        deployment_target=deployment_target,
        deletion_type=request.deletion_type,
        initiated_by=initiated_by,
        requested_by=requested_by,
    )
    if request.reason is not None:
        metadata.reason = request.reason
    return metadata


def create_task(
    kind: TaskKind,
    request: DeployRequest | DeleteRequest,
    *,
    initiated_by: str,
    requested_by: dict[str, Any],
    settings: CreateTaskSettings,
    store: TaskStore,
    executions: Executions,
    repairs: Repairs,
    pin: ModelOwner | None = None,
) -> Task:
    """Record a pending task, then start its execution; if the start fails, take the task back.
    `requested_by` is the authorization's grant (logic/authorization.py): who asked, with their owner tag;
    `pin` the model's owner to pin with the task when none is pinned yet (its first deploy)."""
    task_id = new_task_id(kind)
    logger.append_keys(task_id=task_id, embedding_model_id=request.embedding_model_id)
    plan: DeploymentPlan | None = None
    metadata: DeployMetadata | DeleteMetadata
    if isinstance(request, DeployRequest):
        plan = _plan(request, task_id, settings)
        metadata = _deploy_metadata(plan, _asked_bake_seconds(request, settings), initiated_by, requested_by)
    else:
        metadata = _delete_metadata(request, initiated_by, requested_by, settings.deployment_target)
    task = Task.new(task_id, request.embedding_model_id, metadata, executions.arn_for(kind, task_id))
    _claim_and_record(task, store, executions, repairs, pin)
    execution_input = ExecutionInput(
        task_id=task_id,
        embedding_model_id=task.embedding_model_id,
        kind=kind,
        timing=Timing(
            poll_seconds=settings.green_poll_seconds,
            green_timeout_seconds=settings.green_timeout_seconds,
            green_event_wait_seconds=settings.green_event_wait_seconds,
            drain_seconds=settings.drain_seconds,
            removal_timeout_seconds=settings.removal_timeout_seconds,
        ),
        deployment=plan,
    )
    try:
        executions.start(kind, task_id, execution_input)
    except ExecutionStartFailed:
        if _started_anyway(executions, task.execution_arn or ""):
            # The start went through but its answer was lost: the task is running, not failed.
            logger.warning("StartExecution failed but the execution exists")
            return task
        try:
            store.discard_pending(task)
        except DomainError:
            logger.exception("could not discard a task whose execution did not start")
        metrics.add_metric(name="ExecutionStartFailed", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=f"{kind.value.capitalize()}TaskCreated", unit=MetricUnit.Count, value=1)
    logger.info("task created", extra={"kind": kind.value})
    return task


def _started_anyway(executions: Executions, execution_arn: str) -> bool:
    """Did a StartExecution that reported an error start the execution after all?"""
    try:
        return executions.status(execution_arn) is not None
    except WorkflowServiceUnavailable:
        return False


# An execution is started right after its task is recorded: a holder younger than this whose execution
# does not exist yet is being started, not lost.
START_GRACE = timedelta(seconds=60)
# PENDING_REDRIVE: an operator may redrive it, and it would then run beside a new task.
RUNNING_STATUSES = {"RUNNING", "PENDING_REDRIVE"}


def _claim_and_record(
    task: Task, store: TaskStore, executions: Executions, repairs: Repairs, pin: ModelOwner | None
) -> None:
    """Record the task in its model's slot. If another task holds the slot but its execution has ended
    (aborted, timed out, deleted by hand, or never started), that task is handed to its repair, the one
    path that ends a task its execution left (logic/repair.py): the model may have a green up, a bake
    unresolved or a delete half done, which a new task must not start beside. Either way ModelBusy: the
    caller retries once the holder has ended. Only a slot naming a task that does not exist is taken over."""
    try:
        store.create(task, pin=pin)
        return
    except ModelBusy as taken:
        holder = taken.holder
    status = executions.status(holder.execution_arn)
    never_started = status is None and utc_now() - holder.since > START_GRACE
    busy = f"{holder.kind.value} task {holder.task_id} of model {task.embedding_model_id} is active"
    if status in RUNNING_STATUSES or (status is None and not never_started):
        raise ModelBusy(holder, busy)
    try:
        stale = store.get(holder.task_id)
    except TaskNotFound:
        logger.warning("taking over a slot that names no task", extra={"holder": holder.task_id})
        _take_over(task, holder, store, pin)
        return
    reason = TaskError(
        code="execution_not_started" if status is None else "execution_aborted",
        message=f"its execution ended without finishing the task ({status or 'never started'})",
    )
    logger.warning("the slot's task was left unfinished: repairing it", extra={"holder": holder.task_id})
    # Imported here: the repair logic (and the workflow models it uses) is only needed on this rare path.
    from inference_deploy.logic.repair import start_repair  # noqa: PLC0415

    start_repair(stale, reason, store.models, repairs)
    if task.kind is TaskKind.DELETE and not store.models.model_state(task.embedding_model_id)[1]:
        # never served: whatever the repair does, there is nothing to delete (as without a holder)
        raise ModelNotServed(f"model {task.embedding_model_id} is not served: there is nothing to delete")
    ended = status or "before it started"
    raise ModelBusy(holder, f"{busy}: its execution ended {ended} and its repair is cleaning up; retry once it ends")


def _take_over(task: Task, holder: ActiveTask, store: TaskStore, pin: ModelOwner | None) -> None:
    try:
        store.reclaim(task, holder, pin=pin)
    except ModelBusy as exc:  # another request took it first
        raise ModelBusy(
            exc.holder,
            f"{exc.holder.kind.value} task {exc.holder.task_id} of model {task.embedding_model_id} is active",
        ) from exc
