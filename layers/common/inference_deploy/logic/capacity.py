"""Capacity parity: green starts with blue's instance count and gets blue's autoscaling before the switch.

A request may name the count (not below blue's current count unless it allows the drop) and set the
autoscaling; the stack's MaxInstanceCount caps both, as it caps every deploy (logic/cost_limits.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from inference_deploy.adapters.autoscaling import Autoscaling
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.errors import CapacityDrop
from inference_deploy.models.capacity import CapacityRecord, ScalingSetup
from inference_deploy.models.common import utc_now
from inference_deploy.models.plan import DeploymentPlan
from inference_deploy.models.requests import DeployRequest
from inference_deploy.models.serving import ServingRecord
from inference_deploy.naming import resource_tags
from inference_deploy.observability import logger

if TYPE_CHECKING:  # the create function imports this module for check_capacity_drop alone
    from inference_deploy.models.workflow import ApplyScalingEvent, ScalingApplied


def check_capacity_drop(request: DeployRequest, models: ModelStore, sagemaker: SageMaker) -> None:
    """A named count below the instances blue runs now is CapacityDrop unless the request allows it.
    Asked before anything is written; nothing to compare on a first deploy or without a named count."""
    requested = request.initial_instance_count
    if requested is None or request.allow_capacity_drop:
        return
    blue = models.serving(request.embedding_model_id)
    if blue is None:
        return
    current = sagemaker.instance_count(blue.endpoint_name)
    if current is not None and requested < current:
        raise CapacityDrop(
            f"initial_instance_count {requested} is below the {current} instances blue "
            f"({blue.endpoint_name}) serves with",
            requested=requested,
            blue_instance_count=current,
            blue_endpoint=blue.endpoint_name,
        )


def green_capacity(plan: DeploymentPlan, blue: ServingRecord | None, sagemaker: SageMaker) -> CapacityRecord:
    """Green's instance count: the request's, else blue's CurrentInstanceCount capped by the cost guard,
    else (a first deploy, or blue reports no count) the stack's default."""
    if plan.instance_count_requested:
        return CapacityRecord(instance_count=plan.initial_instance_count, source="request")
    current = sagemaker.instance_count(blue.endpoint_name) if blue is not None else None
    if current is None:
        return CapacityRecord(instance_count=plan.initial_instance_count, source="default")
    cap = plan.max_instance_count or current
    if current > cap:
        logger.warning("blue runs more instances than the stack allows", extra={"blue": current, "cap": cap})
    return CapacityRecord(instance_count=max(1, min(current, cap)), source="blue")


def apply_scaling(event: ApplyScalingEvent, autoscaling: Autoscaling) -> ScalingApplied:
    """Copy blue's scalable target and policies onto green's variant (or set the request's), capped by
    the cost guard. Green is InService and takes no traffic yet; a failure here discards green."""
    from inference_deploy.models.workflow import ScalingApplied  # noqa: PLC0415 - a workflow step's only

    plan = event.deployment
    setup: ScalingSetup | None = None
    source: Literal["blue", "request"] | None = None
    if plan.autoscaling is not None:
        setup, source = ScalingSetup.from_request(plan.autoscaling), "request"
    elif event.blue is not None:
        setup = autoscaling.setup_of(event.blue.endpoint_name)
        source = "blue" if setup is not None else None
    if setup is not None and plan.max_instance_count is not None:
        setup = setup.capped(plan.max_instance_count)
    if setup is not None:
        tags = resource_tags(event.embedding_model_id, event.task_id, plan.deployment_target)
        autoscaling.apply(plan.green.endpoint_name, setup, tags)
        logger.info("scaling copied onto green", extra={"source": source, "policies": len(setup.policies)})
    capacity = event.capacity
    if capacity is not None:
        capacity = capacity.model_copy(
            update={"autoscaling": setup, "autoscaling_source": source if setup is not None else None}
        )
    return ScalingApplied(capacity=capacity, autoscaling=setup, at=utc_now())
