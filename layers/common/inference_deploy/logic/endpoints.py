"""Deleting SageMaker endpoints the way SageMaker allows it.

DeleteEndpoint is refused while an operation runs on the endpoint (Creating, Updating, SystemUpdating,
RollingBack): such an endpoint is reported busy (EndpointBusy) so the caller waits and asks again.
An endpoint already Deleting, or gone, needs nothing more. Its variant's scalable target is deregistered
first: SageMaker's DeleteEndpoint deregisters it itself only when the caller may (and fails otherwise),
so the delete never depends on that (sagemaker/latest/dg/endpoint-delete-with-scaling.html).
"""

from __future__ import annotations

from inference_deploy.adapters.autoscaling import Autoscaling
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.errors import (
    AutoscalingError,
    AutoscalingThrottled,
    DomainError,
    EndpointBusy,
    SageMakerError,
    SageMakerThrottled,
)
from inference_deploy.models.common import utc_now
from inference_deploy.models.serving import EndpointRef
from inference_deploy.models.workflow import DeletedEndpoint
from inference_deploy.observability import logger

UNDELETABLE_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
DELETING = "Deleting"


def _busy(name: str, status: str) -> EndpointBusy:
    return EndpointBusy(f"endpoint {name} is {status}: SageMaker allows deleting it only once that ends")


def delete_when_allowed(endpoint_name: str, sagemaker: SageMaker, scaling: Autoscaling | None = None) -> bool:
    """Delete the endpoint, its autoscaling deregistered first; True if this call issued the delete.
    Gone or already Deleting is False; an endpoint SageMaker will not delete yet raises EndpointBusy."""
    state = sagemaker.endpoint_state(endpoint_name)
    if state is None or state.status == DELETING:
        return False
    if state.status in UNDELETABLE_STATUSES:
        raise _busy(endpoint_name, state.status)
    try:
        (scaling or Autoscaling()).deregister(endpoint_name)
    except AutoscalingThrottled as exc:
        # every delete path retries SageMakerThrottled: this is part of deleting the endpoint
        raise SageMakerThrottled(f"delete endpoint {endpoint_name}: {exc.message}") from exc
    except AutoscalingError as exc:
        raise SageMakerError(f"delete endpoint {endpoint_name}: {exc.message}") from exc
    try:
        return sagemaker.delete_endpoint(endpoint_name)
    except SageMakerError:
        # refused: its status changed between the describe and the delete; say what it is now
        state = sagemaker.endpoint_state(endpoint_name)
        if state is None or state.status == DELETING:
            return False
        if state.status in UNDELETABLE_STATUSES:
            raise _busy(endpoint_name, state.status) from None
        raise


def delete_endpoint(endpoint: EndpointRef, sagemaker: SageMaker) -> DeletedEndpoint:
    """Delete an endpoint and its config, skipping what does not exist (the delete permissions are
    conditioned on this service's tag, which a missing resource cannot carry) and trying both before
    reporting the first error, so a half-created green is cleaned as far as it can be."""
    errors: list[Exception] = []
    deleted = False
    try:
        deleted = delete_when_allowed(endpoint.endpoint_name, sagemaker)
    except DomainError as exc:
        errors.append(exc)
    if sagemaker.endpoint_config_exists(endpoint.endpoint_config_name):
        try:
            deleted = sagemaker.delete_endpoint_config(endpoint.endpoint_config_name) or deleted
        except DomainError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    logger.info("endpoint deleted", extra={"endpoint_name": endpoint.endpoint_name, "existed": deleted})
    return DeletedEndpoint(deleted=deleted, at=utc_now())
