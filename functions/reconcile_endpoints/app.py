"""EventBridge schedule: delete the endpoints and configs this stack created that nothing owns any more,
and the bake alarms of tasks that have ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from inference_deploy import dependencies
from inference_deploy.logic.reconcile import collect_bake_alarms, reconcile
from inference_deploy.models.settings import ReconcilerSettings, load_settings
from inference_deploy.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings(ReconcilerSettings)
    report = reconcile(
        dependencies.sagemaker(),
        dependencies.model_store(),
        dependencies.task_store(),
        deployment_target=settings.deployment_target,
        grace_seconds=settings.reconcile_grace_seconds,
        dry_run=settings.reconcile_dry_run,
        now=datetime.now(UTC),  # to the microsecond, as SageMaker's CreationTime
    )
    collect_bake_alarms(dependencies.alarms(), dependencies.task_store(), report)
    return report.model_dump(mode="json")
