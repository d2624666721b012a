"""Compensating an execution that ended without its own compensation (aborted, timed out, failed in
its last step): the same clean-up a caught failure runs, decided from what SageMaker and the serving
record show now, since the execution's state is gone.

- deploy, green serving while baking (blue still named as previous): route back to blue, delete green;
- deploy, green serving (the switch landed): retire every other endpoint of the model (blue);
- deploy, green not serving: discard green (left to the reconciler while SageMaker refuses the delete);
- delete, serving record unrouted and its endpoint still InService: route it back (undo);
- delete, unrouted and the endpoint already Deleting or gone: finish the removal (sweep the rest).
"""

from __future__ import annotations

from typing import Any

from inference_deploy.adapters.alarms import Alarms
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.errors import (
    CloudWatchUnavailable,
    DomainError,
    EndpointBusy,
    SageMakerThrottled,
    StoreUnavailable,
)
from inference_deploy.logic.endpoints import DELETING, delete_endpoint, delete_when_allowed
from inference_deploy.models.serving import EndpointRef
from inference_deploy.models.task import Task, TaskKind
from inference_deploy.naming import MANAGED_BY, MANAGED_BY_TAG, name_prefix
from inference_deploy.observability import logger

# Worth another delivery of the event (EventBridge retries the target) rather than a note on the task.
TRANSIENT = (SageMakerThrottled, StoreUnavailable, CloudWatchUnavailable)


def compensate(task: Task, models: ModelStore, sagemaker: SageMaker, alarms: Alarms | None = None) -> dict[str, Any]:
    """Undo or finish what the task's execution left half done; returns what was done, for the task's
    metadata. Transient errors propagate (the event is delivered again); others are recorded."""
    try:
        if task.kind is TaskKind.DEPLOY:
            done = _deploy(task, models, sagemaker)
            if alarms is not None:
                alarms.delete_for_task(task.id)
            return done
        return _delete(task, models, sagemaker)
    except TRANSIENT:
        raise
    except DomainError as exc:
        logger.exception("compensation failed; the reconciler removes what is left")
        return {"compensation": "failed", "compensation_error": {"code": exc.code, "message": exc.message}}


def _deploy(task: Task, models: ModelStore, sagemaker: SageMaker) -> dict[str, Any]:
    name, config = task.metadata.get("endpoint_name"), task.metadata.get("endpoint_config_name")
    if not isinstance(name, str) or not isinstance(config, str):
        return {"compensation": "none"}
    record = models.serving(task.embedding_model_id)
    green = EndpointRef(endpoint_name=name, endpoint_config_name=config)
    if record is not None and record.endpoint_name == name and record.previous is not None:
        # Stopped during its bake: blue is still InService, so go back to it rather than keep an unproven green.
        if models.roll_back(task.embedding_model_id, task.id, record.previous):
            delete_endpoint(green, sagemaker)
            logger.warning("rollout stopped during its bake: rolled back", extra={"endpoint_name": name})
            return {
                "compensation": "rolled_back",
                "green_discarded": True,
                "rolled_back_to": record.previous.endpoint_name,
            }
        record = models.serving(task.embedding_model_id)
    if record is not None and record.endpoint_name == name:
        if record.baking:
            models.end_bake(task.embedding_model_id, task.id)
        retired = _delete_all_but(task.embedding_model_id, {name, config}, sagemaker)
        logger.warning("abandoned deploy had switched: blue retired", extra={"retired": retired})
        return {"compensation": "retired_blue", "green_discarded": False, "retired_endpoints": retired}
    try:
        delete_endpoint(green, sagemaker)
    except EndpointBusy as exc:
        return {
            "compensation": "green_left_to_reconciler",
            "green_discarded": False,
            "discard_green_error": {"code": exc.code, "message": exc.message},
        }
    return {"compensation": "discarded_green", "green_discarded": True}


def _delete(task: Task, models: ModelStore, sagemaker: SageMaker) -> dict[str, Any]:
    if models.serving(task.embedding_model_id) is not None:
        return {"compensation": "none"}  # never unrouted (or routed back): nothing is half done
    unrouted = models.unrouted(task.embedding_model_id)
    if unrouted is None:
        return {"compensation": "none"}
    state = sagemaker.endpoint_state(unrouted.endpoint_name)
    if state is not None and state.status == "InService":
        if not models.restore(unrouted):
            return {"compensation": "none"}  # something else was routed meanwhile
        logger.warning("abandoned delete undone: routing restored", extra={"endpoint_name": unrouted.endpoint_name})
        return {"compensation": "routing_restored"}
    # The removal had begun (the endpoint is Deleting or gone): finish it rather than leave half a model.
    deleted = _delete_all_but(task.embedding_model_id, set(), sagemaker)
    return {
        "compensation": "removal_finished",
        "removed_endpoint_name": unrouted.endpoint_name,
        "deleted_resources": deleted,
    }


def _delete_all_but(embedding_model_id: str, keep: set[str], sagemaker: SageMaker) -> list[str]:
    """Delete the model's endpoints and configs this service created, except `keep`; what SageMaker
    will not delete yet is left to the reconciler."""
    prefix = name_prefix(embedding_model_id)
    tags = {"embedding_model_id": embedding_model_id, MANAGED_BY_TAG: MANAGED_BY}
    deleted: list[str] = []
    for endpoint in list(sagemaker.endpoints_tagged(prefix, tags)):
        if endpoint.name in keep or endpoint.status == DELETING:
            continue
        try:
            if delete_when_allowed(endpoint.name, sagemaker):
                deleted.append(endpoint.name)
        except EndpointBusy:
            logger.warning("endpoint busy; left to the reconciler", extra={"endpoint_name": endpoint.name})
    for config in list(sagemaker.endpoint_configs_tagged(prefix, tags)):
        if config not in keep and sagemaker.delete_endpoint_config(config):
            deleted.append(config)
    return sorted(set(deleted))
