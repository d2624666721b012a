"""The reconciler: deletes what this stack created on SageMaker and nothing owns any more.

Whatever the workflows could not clean up (a green SageMaker would not delete before the discard gave
up, a blue whose retirement failed, leftovers of a failed first deploy, an execution abandoned while
SageMaker refused a delete) is found by its tags: an endpoint or endpoint config tagged as this
stack's (managed_by and deployment_target) that no serving record points at, whose model has no
active task, and that is older than the grace period. Endpoints SageMaker will not delete yet are
tried again on the next run. Anything without this stack's tags is never touched.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import ManagedResource, SageMaker
from inference_deploy.errors import EndpointBusy
from inference_deploy.logic.endpoints import DELETING, delete_when_allowed
from inference_deploy.models.serving import ServingRecord
from inference_deploy.models.workflow import ReconcileReport
from inference_deploy.naming import MANAGED_BY, MANAGED_BY_TAG
from inference_deploy.observability import logger, metrics

MODEL_TAG = "embedding_model_id"


class _Models:
    """Per-model facts, read once per run."""

    def __init__(self, models: ModelStore) -> None:
        self._models = models
        self._serving: dict[str, ServingRecord | None] = {}
        self._active: dict[str, bool] = {}

    def serves(self, model_id: str, name: str) -> bool:
        if model_id not in self._serving:
            self._serving[model_id] = self._models.serving(model_id)
        record = self._serving[model_id]
        return record is not None and name.lower() in {
            record.endpoint_name.lower(),
            record.endpoint_config_name.lower(),
        }

    def busy(self, model_id: str) -> bool:
        """An active task may still create, switch to, drain or remove any of the model's resources."""
        if model_id not in self._active:
            self._active[model_id] = self._models.active_task(model_id) is not None
        return self._active[model_id]


def reconcile(
    sagemaker: SageMaker,
    models: ModelStore,
    *,
    deployment_target: str,
    grace_seconds: int,
    dry_run: bool,
    now: datetime,
) -> ReconcileReport:
    wanted = {MANAGED_BY_TAG: MANAGED_BY, "deployment_target": deployment_target}
    facts = _Models(models)
    report = ReconcileReport(dry_run=dry_run)
    kept_endpoints: set[str] = set()
    resources = list(sagemaker.resources_tagged(wanted))
    for resource in resources:  # endpoints come first, so their configs know which endpoints stay
        if _owned(resource, facts, now, grace_seconds) or (
            resource.kind == "endpoint config" and resource.name.lower() in kept_endpoints
        ):
            report.kept += 1
            if resource.kind == "endpoint":
                kept_endpoints.add(resource.name.lower())
            continue
        if resource.status == DELETING:
            continue
        _remove(resource, sagemaker, report, kept_endpoints)
    logger.info("reconciled", extra=report.model_dump())
    return report


def _owned(resource: ManagedResource, facts: _Models, now: datetime, grace_seconds: int) -> bool:
    model_id = resource.tags.get(MODEL_TAG)
    if model_id is None:
        return True  # not made by a task: never guess
    if now - resource.created < timedelta(seconds=grace_seconds):
        return True
    return facts.serves(model_id, resource.name) or facts.busy(model_id)


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
