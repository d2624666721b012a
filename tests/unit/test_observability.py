"""The service's Metrics under POWERTOOLS_METRICS_DISABLED (make run, the tests) never fail a request."""

import os
from unittest import mock

from inference_deploy.observability import metrics


def test_a_disabled_metric_added_on_every_invocation_never_fails_the_invocation():
    @metrics.log_metrics
    def handler(event: dict, context: object) -> str:
        metrics.add_metric(name="DeployTaskCreated", unit="Count", value=1)
        return "ok"

    environment = {"POWERTOOLS_METRICS_DISABLED": "true"}
    with mock.patch.dict(os.environ, environment), mock.patch.object(metrics.provider, "namespace", None):
        # Powertools flushes a metric at its 100th value, and a flush without a namespace raises
        assert [handler({}, None) for _ in range(150)] == ["ok"] * 150
