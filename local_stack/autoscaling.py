"""Application Auto Scaling on SageMaker variants, on moto, made as strict as AWS where the service relies on it.

- DeregisterScalableTarget of a target that is not registered is ObjectNotFoundException (moto: a
  ValidationException), and deregistering a target deletes its scaling policies, as AWS documents.
- RegisterScalableTarget on a SageMaker variant needs the endpoint and the variant to exist and
  MinCapacity <= MaxCapacity; PutScalingPolicy needs the target registered (ObjectNotFoundException).
- DeleteEndpoint on an endpoint whose variant is a registered target: "Application Auto Scaling
  deregisters those models as scalable targets" if the caller may DeregisterScalableTarget, and the
  delete fails otherwise (sagemaker/latest/dg/endpoint-delete-with-scaling.html). Who may is asked of
  `set_deregister_permission`'s check (the emulator evaluates the calling function's role, local_stack/iam.py).
- UpdateEndpointWeightsAndCapacities (what Application Auto Scaling calls to scale a variant) is refused
  unless the endpoint is InService (moto updates an endpoint in any status); DescribeEndpoint's
  CurrentInstanceCount then reports the new count (moto's own).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend, applicationautoscaling_backends
from moto.core.exceptions import JsonRESTError
from moto.sagemaker.exceptions import AWSValidationException as SageMakerAWSValidationException
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends

from local_stack._patch import Method

SAGEMAKER_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


class ObjectNotFoundException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ObjectNotFoundException", message)


class AccessDeniedException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


_lock = threading.Lock()
_may_deregister: list[Callable[[], bool]] = []


def set_deregister_permission(check: Callable[[], bool]) -> Callable[[], None]:
    """Who calls DeleteEndpoint may also deregister its variant's target when `check()` says so;
    without a check every caller may. Returns the remover."""
    with _lock:
        _may_deregister.append(check)

    def remove() -> None:
        with _lock:
            _may_deregister.remove(check)

    return remove


def _caller_may_deregister() -> bool:
    with _lock:
        checks = list(_may_deregister)
    return all(check() for check in checks)


def _variant_of(resource_id: str) -> tuple[str, str] | None:
    parts = resource_id.split("/")
    if len(parts) == 4 and parts[0] == "endpoint" and parts[2] == "variant":
        return parts[1], parts[3]
    return None


def _variant_exists(backend: ApplicationAutoscalingBackend, resource_id: str) -> bool:
    variant = _variant_of(resource_id)
    if variant is None:
        return False
    endpoint = sagemaker_backends[backend.account_id][backend.region_name].endpoints.get(variant[0])
    return endpoint is not None and any(v["VariantName"] == variant[1] for v in endpoint.production_variants)


def _drop_policies(backend: ApplicationAutoscalingBackend, resource_id: str, dimension: str) -> None:
    for key, policy in list(backend.policies.items()):
        if policy.resource_id == resource_id and policy.scalable_dimension == dimension:
            policy.delete_alarms(backend.account_id, backend.region_name)
            del backend.policies[key]


def _deregistering(_original: Method) -> Method:
    def deregister_scalable_target(
        backend: ApplicationAutoscalingBackend, namespace: str, r_id: str, dimension: str
    ) -> None:
        if not backend._scalable_target_exists(r_id, dimension):
            raise ObjectNotFoundException(
                f"No scalable target registered for service namespace: {namespace}, "
                f"resource ID: {r_id}, scalable dimension: {dimension}"
            )
        _drop_policies(backend, r_id, dimension)
        del backend.targets[dimension][r_id]

    return deregister_scalable_target


def _registering(original: Method) -> Method:
    def register_scalable_target(
        backend: ApplicationAutoscalingBackend,
        namespace: str,
        r_id: str,
        dimension: str,
        min_capacity: int | None,
        max_capacity: int | None,
        role_arn: str,
        suspended_state: str,
    ) -> Any:
        if min_capacity is not None and max_capacity is not None and min_capacity > max_capacity:
            raise AWSValidationException("Minimum capacity cannot be greater than maximum capacity")
        if namespace == "sagemaker" and not _variant_exists(backend, r_id):
            raise AWSValidationException(f"The endpoint variant {r_id} does not exist")
        return original(backend, namespace, r_id, dimension, min_capacity, max_capacity, role_arn, suspended_state)

    return register_scalable_target


def _putting_policy(original: Method) -> Method:
    def put_scaling_policy(
        backend: ApplicationAutoscalingBackend,
        policy_name: str,
        service_namespace: str,
        resource_id: str,
        scalable_dimension: str,
        policy_body: dict[str, Any],
        policy_type: str | None,
    ) -> Any:
        if not backend._scalable_target_exists(resource_id, scalable_dimension):
            raise ObjectNotFoundException(
                f"No scalable target registered for service namespace: {service_namespace}, "
                f"resource ID: {resource_id}, scalable dimension: {scalable_dimension}"
            )
        return original(
            backend, policy_name, service_namespace, resource_id, scalable_dimension, policy_body, policy_type
        )

    return put_scaling_policy


def _registered_variants(sagemaker: SageMakerModelBackend, endpoint: Any) -> list[str]:
    backend = applicationautoscaling_backends[sagemaker.account_id][sagemaker.region_name]
    ids = [f"endpoint/{endpoint.endpoint_name}/variant/{v['VariantName']}" for v in endpoint.production_variants]
    return [r_id for r_id in ids if backend._scalable_target_exists(r_id, SAGEMAKER_DIMENSION)]


def _deleting_endpoint(original: Method) -> Method:
    def delete_endpoint(backend: SageMakerModelBackend, endpoint_name: str) -> Any:
        endpoint = backend.endpoints.get(endpoint_name) or next(
            (e for name, e in backend.endpoints.items() if name.lower() == endpoint_name.lower()), None
        )
        registered = _registered_variants(backend, endpoint) if endpoint is not None else []
        if registered and not _caller_may_deregister():
            raise AccessDeniedException(
                f"Deleting endpoint {endpoint_name} deregisters its scalable targets ({', '.join(registered)}), "
                "which the caller is not authorized to do (application-autoscaling:DeregisterScalableTarget)"
            )
        result = original(backend, endpoint_name)
        scaling = applicationautoscaling_backends[backend.account_id][backend.region_name]
        for r_id in registered:
            _drop_policies(scaling, r_id, SAGEMAKER_DIMENSION)
            del scaling.targets[SAGEMAKER_DIMENSION][r_id]
        return result

    return delete_endpoint


def _updating_only_in_service(original: Method) -> Method:
    def update_endpoint_weights_and_capacities(
        backend: SageMakerModelBackend, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
    ) -> Any:
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is not None and endpoint.endpoint_status != "InService":
            raise SageMakerAWSValidationException(
                f'Cannot update in-progress endpoint "{endpoint.arn}" (status {endpoint.endpoint_status}).'
            )
        return original(backend, endpoint_name, desired_weights_and_capacities)

    return update_endpoint_weights_and_capacities
