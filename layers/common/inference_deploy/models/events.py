"""The events the service publishes on its EventBridge bus: `detail` is the task as GET returns it."""

from __future__ import annotations

from enum import StrEnum

EVENT_SOURCE = "inference-deployment-tasks"


class TaskEventType(StrEnum):
    """EventBridge `detail-type` of each kind of change."""

    STATUS_CHANGE = "Inference Deployment Task Status Change"
    STEP_CHANGE = "Inference Deployment Task Step Change"


# An admin's transfer of a model's owner (PUT /models/{id}/owner): `detail` is the owner as the route answers it.
OWNER_CHANGE = "Inference Deployment Model Owner Change"
