"""Capacity carried across a rollout: green's instance count and the Application Auto Scaling set-up
(scalable target and scaling policies) copied from blue's variant, or set by the request."""

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

# SageMaker's scalable dimension for a real-time variant's instance count.
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SERVICE_NAMESPACE = "sagemaker"
# Every endpoint this service creates has one variant (adapters/sagemaker.py create_endpoint).
VARIANT_NAME = "AllTraffic"
# The policy a request's `autoscaling` becomes: target tracking on invocations per instance.
REQUEST_POLICY_NAME = "invocations-per-instance"
INVOCATIONS_PER_INSTANCE = "SageMakerVariantInvocationsPerInstance"


def scaling_resource_id(endpoint_name: str) -> str:
    """Application Auto Scaling's id of an endpoint's variant."""
    return f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}"


Capacity = Annotated[int, Field(ge=1, le=100)]


class AutoscalingRequest(BaseModel):
    """What a deploy request may set: bounds and a target-tracking target, for the model from then on."""

    # defer_build: each model is built when first used, so a cold start builds only those its function uses.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    min_capacity: Capacity = Field(description="Fewest instances App Auto Scaling may scale in to.")
    max_capacity: Capacity = Field(
        description="Most instances App Auto Scaling may scale out to; at most the stack's MaxInstanceCount, "
        "else 422 cost_limit_exceeded."
    )
    target_invocations_per_instance: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        description="Target tracking on SageMakerVariantInvocationsPerInstance (invocations per instance per minute).",
        examples=[300],
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_capacity > self.max_capacity:
            raise ValueError("min_capacity must be at most max_capacity")
        return self


class ScalingPolicy(BaseModel):
    """One scaling policy as DescribeScalingPolicies returns it (only what PutScalingPolicy takes back)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    policy_name: str
    policy_type: Literal["TargetTrackingScaling", "StepScaling"]
    configuration: dict[str, Any] = Field(
        description="TargetTrackingScalingPolicyConfiguration or StepScalingPolicyConfiguration, as AWS returns it."
    )


class ScalingSetup(BaseModel):
    """A variant's scalable target bounds and its scaling policies."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    min_capacity: int = Field(ge=0)
    max_capacity: int = Field(ge=0)
    policies: list[ScalingPolicy] = Field(default_factory=list)

    @classmethod
    def from_request(cls, request: AutoscalingRequest) -> Self:
        return cls(
            min_capacity=request.min_capacity,
            max_capacity=request.max_capacity,
            policies=[
                ScalingPolicy(
                    policy_name=REQUEST_POLICY_NAME,
                    policy_type="TargetTrackingScaling",
                    configuration={
                        "TargetValue": float(request.target_invocations_per_instance),
                        "PredefinedMetricSpecification": {"PredefinedMetricType": INVOCATIONS_PER_INSTANCE},
                    },
                )
            ],
        )

    def capped(self, max_instance_count: int) -> Self:
        """Bounded by the stack's cost guard (MaxInstanceCount)."""
        top = min(self.max_capacity, max_instance_count)
        return self.model_copy(update={"max_capacity": top, "min_capacity": min(self.min_capacity, top)})


class CapacityRecord(BaseModel):
    """What green was given: its instance count, where that came from, and the scaling copied onto it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    instance_count: int = Field(ge=1, description="Instances green was created with.")
    source: Literal["blue", "request", "default"] = Field(
        description="blue: blue's CurrentInstanceCount; request: initial_instance_count; default: the stack's."
    )
    autoscaling: ScalingSetup | None = Field(
        default=None, description="The scalable target and policies put on green's variant; null: none."
    )
    autoscaling_source: Literal["blue", "request"] | None = None
