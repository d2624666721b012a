"""Green is InService and takes no traffic yet: give it blue's scaling, probe it, check its embeddings.
One step (PrepareGreen): any failure discards green and leaves blue serving."""

from __future__ import annotations

from inference_deploy.adapters.autoscaling import Autoscaling
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import EmbeddingSpaceChanged
from inference_deploy.logic.capacity import apply_scaling
from inference_deploy.logic.embedding_guard import check_embedding_compatibility
from inference_deploy.logic.green_deploy import smoke_test_green
from inference_deploy.models.task import DeployMetadata
from inference_deploy.models.workflow import (
    ApplyScalingEvent,
    CompatibilityEvent,
    PreparedGreen,
    PrepareGreenEvent,
    SmokeTestEvent,
)
from inference_deploy.observability import logger


def prepare_green(
    event: PrepareGreenEvent, autoscaling: Autoscaling, sagemaker: SageMaker, store: TaskStore, *, batch_size: int
) -> PreparedGreen:
    """The scaling, the smoke test, then the guard. A guard that fails takes the smoke test's findings on
    the task with it (the failed state carries no result), so the task says what green answered."""
    plan = event.deployment
    scaling = apply_scaling(
        ApplyScalingEvent(
            task_id=event.task_id,
            embedding_model_id=event.embedding_model_id,
            deployment=plan,
            blue=event.blue,
            capacity=event.capacity,
        ),
        autoscaling,
    )
    smoke = smoke_test_green(
        SmokeTestEvent(green=plan.green, blue=event.blue, allow_dimension_change=plan.allow_dimension_change),
        sagemaker,
    )
    findings = DeployMetadata(embedding_dimension=smoke.embedding_dimension, smoke_test_latency_ms=smoke.latency_ms)
    guarded = CompatibilityEvent(
        task_id=event.task_id,
        green=plan.green,
        blue=event.blue,
        embedding_dimension=smoke.embedding_dimension,
        plan=plan.compatibility,
    )
    try:
        check = check_embedding_compatibility(guarded, sagemaker, store, batch_size=batch_size, findings=findings)
    except EmbeddingSpaceChanged:
        raise  # its figures and the findings are recorded
    except Exception:
        _record_findings(store, event.task_id, findings)
        raise
    return PreparedGreen(scaling=scaling, smoke_test=smoke, compatibility=check)


def _record_findings(store: TaskStore, task_id: str, findings: DeployMetadata) -> None:
    """Best effort: the failing part's own error is the one the workflow must see."""
    try:
        store.record_metadata(task_id, findings)
    except Exception:  # noqa: BLE001 - the step's failure goes on to the workflow whatever happens here
        logger.warning("green's findings not recorded", exc_info=True)
