"""Cost guards on a deploy: an allowlisted instance type, at most a maximum number of instances.

Checked when the request arrives, before anything is written (422 naming what is allowed). IAM enforces
the allowlist again on CreateEndpointConfig (`sagemaker:InstanceTypes` in template.yaml), so a bug here
cannot spend.
"""

from __future__ import annotations

from inference_deploy.errors import CostLimitExceeded
from inference_deploy.models.requests import DeployRequest
from inference_deploy.models.settings import CreateTaskSettings


def check_cost_limits(request: DeployRequest, settings: CreateTaskSettings) -> None:
    """Raise CostLimitExceeded unless the request's instance type, count and autoscaling bounds are within
    the stack's limits (the stack's own defaults are, see CreateTaskSettings)."""
    allowed = list(settings.allowed_instance_types)
    errors: list[tuple[str, str]] = []
    if request.instance_type is not None and request.instance_type not in allowed:
        errors.append(("body.instance_type", f"this instance type is not allowed; allowed: {', '.join(allowed)}"))
    count = request.initial_instance_count
    if count is not None and count > settings.max_instance_count:
        errors.append(("body.initial_instance_count", f"at most {settings.max_instance_count} instances are allowed"))
    scaling = request.autoscaling
    if scaling is not None and scaling.max_capacity > settings.max_instance_count:
        errors.append(("body.autoscaling.max_capacity", f"at most {settings.max_instance_count} instances are allowed"))
    if errors:
        raise CostLimitExceeded(
            "the deploy asks for more than this stack allows",
            errors=errors,
            allowed_instance_types=allowed,
            max_instance_count=settings.max_instance_count,
        )
