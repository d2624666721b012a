"""Application Auto Scaling on SageMaker endpoint variants, behind the few calls a rollout needs.

Errors become AutoscalingThrottled (transient: the workflow retries) or AutoscalingError (final).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from inference_deploy.adapters import aws
from inference_deploy.errors import AutoscalingError, AutoscalingThrottled
from inference_deploy.models.capacity import (
    SCALABLE_DIMENSION,
    SERVICE_NAMESPACE,
    ScalingPolicy,
    ScalingSetup,
    scaling_resource_id,
)

_TRANSIENT = {
    "ThrottlingException",
    "Throttling",
    "ConcurrentUpdateException",  # another change to the same target is in progress
    "InternalServiceException",
    "ServiceUnavailable",
}
_FAILED = (ClientError, BotoCoreError)
_POLICY_CONFIGURATION = {
    "TargetTrackingScaling": "TargetTrackingScalingPolicyConfiguration",
    "StepScaling": "StepScalingPolicyConfiguration",
}


def _code(exc: ClientError | BotoCoreError) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def _translate(exc: ClientError | BotoCoreError, what: str) -> Exception:
    if isinstance(exc, BotoCoreError):
        return AutoscalingThrottled(f"{what}: no answer from Application Auto Scaling ({type(exc).__name__})")
    code = _code(exc)
    if code in _TRANSIENT:
        return AutoscalingThrottled(f"{what}: Application Auto Scaling is throttling or unavailable ({code})")
    reason = exc.response.get("Error", {}).get("Message", "")
    detail = f"{code}: {reason}" if code == "ValidationException" and reason else code
    return AutoscalingError(f"{what}: Application Auto Scaling refused the request ({detail})")


class Autoscaling:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.application_autoscaling()

    def _target(self, endpoint_name: str) -> dict[str, str]:
        return {
            "ServiceNamespace": SERVICE_NAMESPACE,
            "ResourceId": scaling_resource_id(endpoint_name),
            "ScalableDimension": SCALABLE_DIMENSION,
        }

    def setup_of(self, endpoint_name: str) -> ScalingSetup | None:
        """The variant's scalable target and policies, or None when it is not registered."""
        target = self._target(endpoint_name)
        what = f"read the scaling of {endpoint_name}"
        try:
            found = self._client.describe_scalable_targets(
                ServiceNamespace=SERVICE_NAMESPACE,
                ResourceIds=[target["ResourceId"]],
                ScalableDimension=SCALABLE_DIMENSION,
            )["ScalableTargets"]
            if not found:
                return None
            policies: list[ScalingPolicy] = []
            for page in self._client.get_paginator("describe_scaling_policies").paginate(**target):
                for policy in page["ScalingPolicies"]:
                    kind = policy["PolicyType"]
                    if kind not in _POLICY_CONFIGURATION:
                        continue  # PredictiveScaling does not apply to SageMaker variants
                    policies.append(
                        ScalingPolicy(
                            policy_name=policy["PolicyName"],
                            policy_type=kind,
                            configuration=dict(policy.get(_POLICY_CONFIGURATION[kind], {})),
                        )
                    )
        except _FAILED as exc:
            raise _translate(exc, what) from exc
        return ScalingSetup(
            min_capacity=found[0]["MinCapacity"], max_capacity=found[0]["MaxCapacity"], policies=policies
        )

    def apply(self, endpoint_name: str, setup: ScalingSetup, tags: dict[str, str]) -> None:
        """Register the variant as a scalable target (tagged) and put each policy on it. Both calls are
        idempotent (a repeat updates the same target and policies), so a retried step is safe."""
        target = self._target(endpoint_name)
        try:
            self._client.register_scalable_target(
                **target, MinCapacity=setup.min_capacity, MaxCapacity=setup.max_capacity, Tags=tags
            )
            for policy in setup.policies:
                self._client.put_scaling_policy(
                    **target,
                    PolicyName=policy.policy_name,
                    PolicyType=policy.policy_type,
                    **{_POLICY_CONFIGURATION[policy.policy_type]: policy.configuration},
                )
        except _FAILED as exc:
            raise _translate(exc, f"copy scaling onto {endpoint_name}") from exc

    def deregister(self, endpoint_name: str) -> bool:
        """Deregister the variant (which deletes its policies too); True if it was registered."""
        try:
            self._client.deregister_scalable_target(**self._target(endpoint_name))
        except _FAILED as exc:
            if _code(exc) == "ObjectNotFoundException":
                return False
            raise _translate(exc, f"deregister the scaling of {endpoint_name}") from exc
        return True
