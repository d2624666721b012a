"""The reconciler: deletes what this stack created on SageMaker and nothing owns any more.

Whatever the workflows could not clean up (a green SageMaker would not delete before the discard gave
up, a blue whose retirement failed, leftovers of a failed first deploy, an execution abandoned while
SageMaker refused a delete) is found by its tags: an endpoint or endpoint config tagged as this
stack's (managed_by and deployment_target) that no serving record points at (as the endpoint that
serves or as the `previous` one a bake keeps), whose model has no active task, and that is older than
the grace period unless the task that made it has finished. Endpoints SageMaker will not delete yet
are tried again on the next run. Anything without this stack's tags is never touched.

Ownership is read for each resource immediately before its delete, never cached: a rollback or a
cancel may move the serving record while the run goes on, and a stale answer deletes what serves.

A bake's own alarms that outlived their task (CloudWatch failing past the final step's retries) are
deleted too, once this stack's tasks table says that task has ended; another stack's are not its tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.alarms import Alarms, task_of_alarm
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import ManagedResource, SageMaker
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import EndpointBusy, TaskNotFound
from inference_deploy.logic.endpoints import DELETING, delete_when_allowed
from inference_deploy.models.serving import ServingRecord
from inference_deploy.models.workflow import ReconcileReport
from inference_deploy.naming import MANAGED_BY, MANAGED_BY_TAG
from inference_deploy.observability import logger, metrics

MODEL_TAG = "embedding_model_id"
TASK_TAG = "task_id"
DEPLOYMENT_TARGET_TAG = "deployment_target"


class _FinishedTasks:
    """Whether the task a resource is tagged with has finished. A finished task creates nothing more,
    so its leftovers need no grace period; a terminal status never changes, so one read per run is enough."""

    def __init__(self, tasks: TaskStore) -> None:
        self._tasks = tasks
        self._finished: dict[str, bool] = {}

    def finished(self, task_id: str | None) -> bool:
        if task_id is None:
            return False
        if task_id not in self._finished:
            try:
                self._finished[task_id] = self._tasks.get(task_id).status.is_terminal
            except TaskNotFound:
                self._finished[task_id] = False  # not a task we know: the grace period decides
        return self._finished[task_id]


def reconcile(
    sagemaker: SageMaker,
    models: ModelStore,
    tasks: TaskStore,
    *,
    deployment_target: str,
    grace_seconds: int,
    dry_run: bool,
    now: datetime,
) -> ReconcileReport:
    wanted = {MANAGED_BY_TAG: MANAGED_BY, DEPLOYMENT_TARGET_TAG: deployment_target}
    finished = _FinishedTasks(tasks)
    report = ReconcileReport(dry_run=dry_run)
    kept_endpoints: set[str] = set()
    resources = list(sagemaker.resources_tagged(wanted))
    for resource in resources:  # endpoints come first, so their configs know which endpoints stay
        if _spared(resource, finished, now, grace_seconds) or (
            resource.kind == "endpoint config" and resource.name.lower() in kept_endpoints
        ):
            _keep(resource, report, kept_endpoints)
            continue
        if resource.status == DELETING:
            continue
        if _owned(resource, models):  # read last, just before the delete
            _keep(resource, report, kept_endpoints)
            continue
        _remove(resource, sagemaker, report, kept_endpoints)
    logger.info("reconciled", extra=report.model_dump())
    return report


def _keep(resource: ManagedResource, report: ReconcileReport, kept_endpoints: set[str]) -> None:
    report.kept += 1
    if resource.kind == "endpoint":
        kept_endpoints.add(resource.name.lower())


def _spared(resource: ManagedResource, finished: _FinishedTasks, now: datetime, grace_seconds: int) -> bool:
    """Kept without asking who owns it: not made by a task (never guess), or young while its task may
    still be working on it."""
    if resource.tags.get(MODEL_TAG) is None:
        return True
    young = now - resource.created < timedelta(seconds=grace_seconds)
    return young and not finished.finished(resource.tags.get(TASK_TAG))


def _owned(resource: ManagedResource, models: ModelStore) -> bool:
    """The model's slot and serving record, in one consistent read: an active task may still create,
    switch to, roll back to or remove any of the model's resources; the record owns what serves and
    the `previous` endpoint a bake keeps to go back to."""
    model_id = resource.tags[MODEL_TAG]
    active, record = models.ownership(model_id)
    return active is not None or resource.name.lower() in _named_by(record)


def _named_by(record: ServingRecord | None) -> set[str]:
    if record is None:
        return set()
    names = {record.endpoint_name, record.endpoint_config_name}
    if record.previous is not None:
        names |= {record.previous.endpoint_name, record.previous.endpoint_config_name}
    return {name.lower() for name in names}


def _remove(resource: ManagedResource, sagemaker: SageMaker, report: ReconcileReport, kept: set[str]) -> None:
    fields = {"kind": resource.kind, "resource_name": resource.name, "embedding_model_id": resource.tags.get(MODEL_TAG)}
    metric = "OrphanEndpoint" if resource.kind == "endpoint" else "OrphanEndpointConfig"
    if report.dry_run:
        logger.warning("orphan found (dry run: not deleted)", extra=fields)
        metrics.add_metric(name=f"{metric}Found", unit=MetricUnit.Count, value=1)
        report.would_delete.append(resource.name)
        return
    try:
        if resource.kind == "endpoint":
            delete_when_allowed(resource.name, sagemaker)
        else:
            sagemaker.delete_endpoint_config(resource.name)
    except EndpointBusy:
        logger.info("orphan busy; deleted on a later run", extra=fields)
        report.busy.append(resource.name)
        kept.add(resource.name.lower())
        return
    logger.warning("orphan deleted", extra=fields)
    metrics.add_metric(name=f"{metric}Deleted", unit=MetricUnit.Count, value=1)
    report.deleted.append(resource.name)


def collect_bake_alarms(alarms: Alarms, tasks: TaskStore, report: ReconcileReport) -> None:
    """Delete the bake alarms whose deploy task (in this stack's table) has ended."""
    finished = _FinishedTasks(tasks)
    left = [name for name in alarms.bake_alarm_names() if finished.finished(task_of_alarm(name))]
    if not left:
        return
    if report.dry_run:
        report.would_delete.extend(left)
    else:
        alarms.delete(left)
        report.deleted.extend(left)
    logger.warning("bake alarms of ended tasks", extra={"alarms": left, "dry_run": report.dry_run})
    metrics.add_metric(name="OrphanBakeAlarmsFound", unit=MetricUnit.Count, value=len(left))
