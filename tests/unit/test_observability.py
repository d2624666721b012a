"""The service's Metrics under POWERTOOLS_METRICS_DISABLED (make run, the tests) never fail a request, and an
invocation without metrics (a read) flushes nothing and warns nothing."""

import os
import warnings
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


def test_an_invocation_that_records_no_metric_publishes_and_warns_nothing(capsys):
    @metrics.log_metrics
    def handler(event: dict, context: object) -> str:
        return "ok"

    with (
        mock.patch.dict(os.environ, {"POWERTOOLS_METRICS_DISABLED": "false"}),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")  # the project's pytest settings ignore this warning; here it must not happen
        assert handler({}, None) == "ok"

    assert [str(warning.message) for warning in caught] == []
    assert capsys.readouterr().out == ""


def test_an_invocation_that_records_a_metric_still_publishes_it(capsys):
    @metrics.log_metrics
    def handler(event: dict, context: object) -> str:
        metrics.add_metric(name="DeployTaskCreated", unit="Count", value=1)
        return "ok"

    with (
        mock.patch.dict(os.environ, {"POWERTOOLS_METRICS_DISABLED": "false"}),
        mock.patch.object(metrics.provider, "namespace", "InferenceDeployment"),
    ):
        assert handler({}, None) == "ok"

    assert '"DeployTaskCreated"' in capsys.readouterr().out
