"""The bake's verdict on green's own metrics (adapters/alarms.py green_breach), by the rules of the alarms
it replaces, read from what GetMetricData answers; and what MarkSucceeded recovers of a RetireBlue that
could not end its task (logic/outcome.py deferred_retire)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inference_deploy.adapters.alarms import Alarms
from inference_deploy.errors import CloudWatchUnavailable
from inference_deploy.logic.outcome import deferred_retire
from inference_deploy.models.workflow import BakePlan, RetiredBlue, StepFailure

SINCE = datetime(2026, 12, 6, 10, 0, 20, tzinfo=UTC)
UNTIL = SINCE + timedelta(minutes=10)


class _CloudWatch:
    """Answers GetMetricData with per-minute points, as CloudWatch does (a page of results per query)."""

    def __init__(self, errors: list[float], latency_ms: list[float | None], status: str = "Complete") -> None:
        self.calls: list[dict[str, Any]] = []
        self._series = {"errors": errors, "latency": [None if v is None else v * 1000 for v in latency_ms]}
        self._status = status

    def get_paginator(self, operation: str) -> _CloudWatch:
        assert operation == "get_metric_data"
        return self

    def paginate(self, **params: Any) -> list[dict[str, Any]]:
        self.calls.append(params)
        start = params["StartTime"]
        results = []
        for query in params["MetricDataQueries"]:
            points = [
                (start + timedelta(minutes=i), v) for i, v in enumerate(self._series[query["Id"]]) if v is not None
            ]
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [t for t, _ in points],
                    "Values": [v for _, v in points],
                    "StatusCode": self._status,
                }
            )
        return [{"MetricDataResults": results}]


def _judge(cloudwatch: _CloudWatch) -> str | None:
    return Alarms(cloudwatch).green_breach(  # type: ignore[arg-type]
        "idt-green", SINCE, UNTIL, error_threshold=5, latency_threshold_ms=1000
    )


def test_the_window_is_whole_minutes_from_the_switch_to_the_end():
    cloudwatch = _CloudWatch([], [])
    assert _judge(cloudwatch) is None, "no data is healthy"
    (call,) = cloudwatch.calls
    assert call["StartTime"] == SINCE.replace(second=0)
    assert call["EndTime"] == UNTIL.replace(second=0) + timedelta(minutes=1)
    metrics = {q["MetricStat"]["Metric"]["MetricName"]: q["MetricStat"]["Stat"] for q in call["MetricDataQueries"]}
    assert metrics == {"Invocation5XXErrors": "Sum", "ModelLatency": "Average"}


@pytest.mark.parametrize(
    ("errors", "breaches"),
    [([0, 4, 4, 4, 4], False), ([0, 0, 5], True), ([4.0, 6.0], True)],
)
def test_a_minute_at_the_error_threshold_breaches(errors, breaches):
    assert (_judge(_CloudWatch(errors, [])) is not None) is breaches


@pytest.mark.parametrize(
    ("latency_ms", "breaches"),
    [
        ([1001, 1001, 1001], True),
        ([1001, 1001, 1000, 1001, 1001], False),  # at the threshold is not above it
        ([1001, 1001, None, 1001], False),  # a minute without data breaks the run
        ([500, 1500, 2000, 1200, 300], True),
        ([1500, 1500], False),
    ],
)
def test_three_slow_minutes_in_a_row_breach(latency_ms, breaches):
    verdict = _judge(_CloudWatch([], latency_ms))
    assert (verdict is not None) is breaches, verdict


def test_a_result_cloudwatch_could_not_read_is_no_verdict():
    with pytest.raises(CloudWatchUnavailable):
        _judge(_CloudWatch([9], [], status="InternalError"))


def test_mark_succeeded_recovers_what_retire_blue_did_from_its_error():
    retired = RetiredBlue(deleted=True, bake_ended_at=SINCE, at=UNTIL)
    cause = json.dumps({"errorMessage": retired.model_dump_json(), "errorType": "TaskNotFinished"})
    assert deferred_retire(StepFailure(Error="TaskNotFinished", Cause=cause)) == retired
    assert deferred_retire(StepFailure(Error="TaskNotFinished", Cause="not json")) is None


def test_a_plan_made_before_green_alarms_existed_still_makes_them():
    """An execution started before the field existed meets the new SwitchTraffic: its bake keeps the
    alarms on green it always had (its RetireBlue does not judge green's metrics)."""
    old = BakePlan.model_validate({"seconds": 600, "requested": False, "error_threshold": 5, "latency_threshold_ms": 1})
    assert old.green_alarms is True
