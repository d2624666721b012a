"""The steps of removing a model: unroute, drain (a Wait state), delete every endpoint it has, confirm."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import EndpointBusy, RemovalTimeout, TaskCancelled
from inference_deploy.logic.endpoints import DELETING, delete_when_allowed
from inference_deploy.models.common import utc_now
from inference_deploy.models.serving import ServingRecord
from inference_deploy.models.workflow import RestoredRouting, SweepEvent, SweepResult, UnroutedModel
from inference_deploy.naming import model_resource_tags, name_prefix
from inference_deploy.observability import logger


def unroute_model(
    embedding_model_id: str, models: ModelStore, *, task_id: str | None = None, store: TaskStore | None = None
) -> UnroutedModel:
    """Remove the serving record first, so resolvers stop handing the endpoint out before it goes.

    A cancel of the delete may have run while this unroute was in flight: it records its mark first,
    then restores routing from what it reads, which may be before this write landed. So the unroute
    reads the mark after its write (consistently) and, if the task was cancelled, puts the record back
    itself: whichever of the two comes second sees the other, and the model stays routed."""
    removed = models.unroute(embedding_model_id)
    if task_id is not None and store is not None and store.cancel_requested(task_id):
        restored = models.restore_unrouted(embedding_model_id)
        logger.warning("delete cancelled while unrouting: routing put back", extra={"restored": restored})
        raise TaskCancelled(f"task {task_id} was cancelled while its model was being unrouted")
    return UnroutedModel(removed=removed, at=utc_now())


def restore_routing(record: ServingRecord | None, models: ModelStore, sagemaker: SageMaker) -> RestoredRouting:
    """After a failed removal, route the model back to its endpoint if that endpoint still serves. An
    endpoint already gone or being deleted cannot serve again: say so, and the workflow finishes the removal."""
    if record is None:
        return RestoredRouting(restored=False)
    state = sagemaker.endpoint_state(record.endpoint_name)
    if state is None or state.status != "InService":
        logger.warning("endpoint gone, routing not restored", extra={"endpoint_name": record.endpoint_name})
        return RestoredRouting(restored=False, endpoint_gone=state is None or state.status == "Deleting")
    return RestoredRouting(restored=models.restore(record))


def restore_unrouted(embedding_model_id: str, models: ModelStore) -> RestoredRouting:
    """After UnrouteModel failed (it may have landed, its answer lost): put the record back. Nothing
    was deleted yet, so the endpoint it names still serves."""
    return RestoredRouting(restored=models.restore_unrouted(embedding_model_id))


def sweep_model_endpoints(
    event: SweepEvent, sagemaker: SageMaker, store: TaskStore | None = None, *, deployment_target: str
) -> SweepResult:
    """Delete every endpoint and endpoint config this stack created for the model (found by tag, so
    greens orphaned by an earlier crash go too); never another stack's in the account, which names its
    endpoints alike for the same model but tags another `deployment_target`. An endpoint SageMaker will
    not delete yet (Creating, Updating...) stays `remaining` and is tried again on the next round, as
    does one already Deleting (never deleted twice: SageMaker refuses that); `done` once SageMaker lists
    none of them any more.
    The first sweep (the event names the task) records the point past which the delete cannot be
    cancelled, in a write a cancel cannot pass: one of the two lands first."""
    if event.task_id is not None and store is not None:
        store.mark_removal_started(event.task_id)
    prefix = name_prefix(event.embedding_model_id)
    tags = model_resource_tags(event.embedding_model_id, deployment_target)
    deleted: list[str] = []
    remaining: list[str] = []
    for endpoint in list(sagemaker.endpoints_tagged(prefix, tags)):
        remaining.append(endpoint.name)  # listed: it still exists, whatever this round does to it
        if endpoint.status == DELETING:
            continue
        with contextlib.suppress(EndpointBusy):  # tried again next round
            if delete_when_allowed(endpoint.name, sagemaker):
                deleted.append(endpoint.name)
    for config in list(sagemaker.endpoint_configs_tagged(prefix, tags)):
        sagemaker.delete_endpoint_config(config)
        deleted.append(config)
    now = utc_now()
    if remaining and now >= event.started_at + timedelta(seconds=event.drain_seconds + event.timeout_seconds):
        raise RemovalTimeout(
            f"endpoints SageMaker would not delete by the removal deadline: {', '.join(sorted(remaining))}"
        )
    return SweepResult(deleted=sorted(set(deleted)), remaining=sorted(remaining), done=not remaining, at=now)
