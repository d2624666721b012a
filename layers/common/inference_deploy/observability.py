"""One Logger, Tracer and Metrics for the whole service, configured by POWERTOOLS_* variables."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider


class _Provider(AmazonCloudWatchEMFProvider):
    """Powertools keeps a disabled provider's metrics (POWERTOOLS_METRICS_DISABLED: `make run`, tests)
    across invocations, until a metric's 100th value forces a flush that fails with no namespace: a
    long-lived local process answered 500 on its 100th deploy. Disabled, each invocation drops them."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)
        if is_metrics_disabled():
            self.clear_metrics()


logger = Logger()
# Only the SDK is patched: patch_all would also patch modules this service never uses (sqlite3, …).
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics(provider=_Provider())
