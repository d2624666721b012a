"""CloudWatch: the alarms a deploy request names (checked to exist), the ones a bake creates, and green's
own metrics read when a bake ends. A bake's alarms are named after the task so every path that ends a
rollout can delete them: two on green's own metrics when the request asks (`green_alarms`), and a
composite over the caller's alarms (and those two) when it names `rollback_alarms`. Their state change
events wake the bake's wait (the rule matches the bake's prefix: a caller's alarm is named otherwise, so
its composite's event does). Without either, the bake makes no alarm: green's own metrics are read once
when it ends (`green_breach`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from inference_deploy.adapters import aws
from inference_deploy.errors import CloudWatchUnavailable
from inference_deploy.models.workflow import AlarmTrip
from inference_deploy.naming import bake_alarm_prefix

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.literals import ComparisonOperatorType
    from mypy_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef, MetricStatTypeDef, MetricTypeDef, TagTypeDef

SAGEMAKER_NAMESPACE = "AWS/SageMaker"
VARIANT = "AllTraffic"
_PERIOD_SECONDS = 60
_COMPARISONS: dict[str, ComparisonOperatorType] = {
    ">=": "GreaterThanOrEqualToThreshold",
    ">": "GreaterThanThreshold",
}
_LATENCY_PERIODS = 3  # the latency alarm's EvaluationPeriods (every one of them breaching)
_DESCRIBE_PAGE = 100
_READ = ("Complete", "PartialData")  # PartialData: the rest comes with the next page
_GREEN_METRICS = (("errors", "Invocation5XXErrors", "Sum"), ("latency", "ModelLatency", "Average"))


_WATCH_SUFFIX = "-watch"
_OWN_SUFFIXES = ("-5xx", "-latency", _WATCH_SUFFIX)


def own_alarm_names(task_id: str) -> list[str]:
    """Every alarm a deploy task's bake may create: two on green's metrics and the composite (deterministic:
    a clean-up needs no state; one DeleteAlarms takes them, one composite at most)."""
    return [f"{bake_alarm_prefix()}{task_id}{suffix}" for suffix in _OWN_SUFFIXES]


def made_alarm_names(task_id: str, caller_alarms: Sequence[str], green_alarms: bool) -> list[str]:
    """The alarms a bake made: the two on green's metrics when asked, the composite when the request named
    alarms."""
    errors_name, latency_name, watch_name = own_alarm_names(task_id)
    return [*([errors_name, latency_name] if green_alarms else []), *([watch_name] if caller_alarms else [])]


def watch_alarm_name(task_id: str) -> str:
    """The bake's composite alarm: ALARM when any watched alarm is."""
    return f"{bake_alarm_prefix()}{task_id}{_WATCH_SUFFIX}"


def watched_alarm_names(task_id: str, caller_alarms: Sequence[str], green_alarms: bool) -> list[str]:
    """What a bake looks at: the caller's alarms and, when asked, its own two on green's metrics (not the
    composite, which is ALARM only when one of them is)."""
    return [*caller_alarms, *(own_alarm_names(task_id)[:2] if green_alarms else [])]


def task_watched_by(name: str) -> str | None:
    """The deploy task whose bake made the composite alarm `name`, if it is named like one."""
    prefix = bake_alarm_prefix()
    if name.startswith(prefix) and name.endswith(_WATCH_SUFFIX):
        return name[len(prefix) : -len(_WATCH_SUFFIX)] or None
    return None


def task_of_alarm(name: str) -> str | None:
    """The deploy task whose bake made the alarm `name`, if it is named like one."""
    prefix = bake_alarm_prefix()
    for suffix in _OWN_SUFFIXES:
        if name.startswith(prefix) and name.endswith(suffix):
            return name[len(prefix) : -len(suffix)]
    return None


def _green_dimensions(endpoint_name: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": VARIANT}]


def _slow_run(points: list[tuple[datetime, float]], threshold_us: float) -> datetime | None:
    """The start of the first run of _LATENCY_PERIODS consecutive minutes each above the threshold."""
    run: list[datetime] = []
    for at, value in points:
        if value <= threshold_us:
            run = []
            continue
        if run and at - run[-1] != timedelta(seconds=_PERIOD_SECONDS):
            run = []
        run.append(at)
        if len(run) == _LATENCY_PERIODS:
            return run[0]
    return None


def _unavailable(exc: ClientError | BotoCoreError, what: str) -> CloudWatchUnavailable:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
    return CloudWatchUnavailable(f"{what}: CloudWatch failed ({code})")


class Alarms:
    def __init__(self, client: CloudWatchClient | None = None) -> None:
        self._client = client or aws.cloudwatch()

    def missing(self, names: Sequence[str]) -> list[str]:
        """The names among `names` no metric or composite alarm has (one DescribeAlarms per 100 names)."""
        found: set[str] = set()
        try:
            for start in range(0, len(names), _DESCRIBE_PAGE):
                page = list(names[start : start + _DESCRIBE_PAGE])
                response = self._client.describe_alarms(
                    AlarmNames=page, AlarmTypes=["MetricAlarm", "CompositeAlarm"], MaxRecords=_DESCRIBE_PAGE
                )
                found.update(a["AlarmName"] for a in response.get("MetricAlarms", []))
                found.update(a["AlarmName"] for a in response.get("CompositeAlarms", []))
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc, "check the rollback alarms") from exc
        return [name for name in names if name not in found]

    def first_in_alarm(self, names: Sequence[str]) -> AlarmTrip | None:
        """One of `names` in state ALARM, with CloudWatch's reason; None when none is."""
        try:
            for start in range(0, len(names), _DESCRIBE_PAGE):
                # The state is checked here, not with StateValue: one call reads every watched alarm.
                response = self._client.describe_alarms(
                    AlarmNames=list(names[start : start + _DESCRIBE_PAGE]),
                    AlarmTypes=["MetricAlarm", "CompositeAlarm"],
                    MaxRecords=_DESCRIBE_PAGE,
                )
                alarms = [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]
                for alarm in sorted(alarms, key=lambda a: a["AlarmName"]):
                    if alarm.get("StateValue") == "ALARM":
                        return AlarmTrip(name=alarm["AlarmName"], reason=alarm.get("StateReason", "")[:500])
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc, "read the watched alarms") from exc
        return None

    def create_for_bake(
        self,
        task_id: str,
        endpoint_name: str,
        *,
        error_threshold: int,
        latency_threshold_ms: int,
        tags: dict[str, str],
        caller_alarms: Sequence[str],
        green_alarms: bool,
    ) -> list[str]:
        """With `green_alarms`, alarms on green's Invocation5XXErrors (sum per minute) and ModelLatency (average
        per minute, in microseconds as SageMaker reports it), missing data not breaching (an idle green is
        healthy); their own state change events wake the bake. With `caller_alarms` (named otherwise), the
        composite alarm over them and those two, in ALARM when any of them is, so that its state change event
        says the bake must end. Its actions are off: EventBridge gets the event anyway. The names made."""
        errors_name, latency_name, watch_name = own_alarm_names(task_id)
        tag_list: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        # name, what it says, metric, statistic, periods (every one breaching), threshold, comparison
        own = (
            (errors_name, "answers 5XX errors", "Invocation5XXErrors", "Sum", 1, error_threshold, ">="),
            (
                latency_name,
                "answers slowly",
                "ModelLatency",
                "Average",
                _LATENCY_PERIODS,
                latency_threshold_ms * 1000,
                ">",
            ),
        )
        try:
            for name, says, metric, statistic, periods, threshold, comparison in own if green_alarms else ():
                self._client.put_metric_alarm(
                    AlarmName=name,
                    AlarmDescription=f"Bake of {task_id}: green {endpoint_name} {says}",
                    Namespace=SAGEMAKER_NAMESPACE,
                    MetricName=metric,
                    Dimensions=_green_dimensions(endpoint_name),  # type: ignore[arg-type]
                    Statistic=statistic,  # type: ignore[arg-type]
                    Period=_PERIOD_SECONDS,
                    EvaluationPeriods=periods,
                    Threshold=float(threshold),
                    ComparisonOperator=_COMPARISONS[comparison],
                    TreatMissingData="notBreaching",
                    Tags=tag_list,
                )
            if caller_alarms:
                children = [*caller_alarms, *([errors_name, latency_name] if green_alarms else [])]
                self._client.put_composite_alarm(
                    AlarmName=watch_name,
                    AlarmDescription=f"Bake of {task_id}: any watched alarm in ALARM ends it",
                    AlarmRule=" OR ".join(f'ALARM("{name}")' for name in children),
                    ActionsEnabled=False,
                    Tags=tag_list,
                )
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc, "create the bake alarms") from exc
        return made_alarm_names(task_id, caller_alarms, green_alarms)

    def green_breach(
        self,
        endpoint_name: str,
        since: datetime,
        until: datetime,
        *,
        error_threshold: int,
        latency_threshold_ms: int,
    ) -> str | None:
        """What green's own metrics say of [since, until] by the rules of the bake's alarms: a minute with at
        least `error_threshold` 5XX errors, or three minutes in a row averaging more than the latency
        threshold; None when neither (no data is healthy). One GetMetricData, by whole minutes (CloudWatch
        rounds a recent StartTime down to the minute; the window is widened to whole minutes so the
        emulator, which does not round, reads the same buckets)."""
        start = since.replace(second=0, microsecond=0)
        end = until.replace(second=0, microsecond=0) + timedelta(seconds=_PERIOD_SECONDS)
        queries: list[MetricDataQueryTypeDef] = []
        for query_id, metric, stat in _GREEN_METRICS:
            green_metric: MetricTypeDef = {
                "Namespace": SAGEMAKER_NAMESPACE,
                "MetricName": metric,
                "Dimensions": _green_dimensions(endpoint_name),  # type: ignore[typeddict-item]
            }
            metric_stat: MetricStatTypeDef = {
                "Metric": green_metric,
                "Period": _PERIOD_SECONDS,
                "Stat": stat,
            }
            queries.append({"Id": query_id, "MetricStat": metric_stat, "ReturnData": True})
        series: dict[str, list[tuple[datetime, float]]] = {"errors": [], "latency": []}
        try:
            pages = self._client.get_paginator("get_metric_data").paginate(
                MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
            )
            for page in pages:
                for result in page.get("MetricDataResults", []):
                    if result.get("StatusCode") not in _READ:  # InternalError, Forbidden: nothing to judge by
                        raise CloudWatchUnavailable(f"read green's metrics: {result.get('StatusCode')}")
                    points = zip(result.get("Timestamps", []), result.get("Values", []), strict=True)
                    series[result["Id"]].extend(points)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc, "read green's metrics") from exc
        for at, errors in sorted(series["errors"]):
            if errors >= error_threshold:
                return f"{errors:g} 5XX errors in the minute from {at:%H:%M} UTC (threshold {error_threshold})"
        slow = _slow_run(sorted(series["latency"]), latency_threshold_ms * 1000)
        if slow is not None:
            return (
                f"ModelLatency averaged above {latency_threshold_ms} ms for {_LATENCY_PERIODS} minutes in a row "
                f"from {slow:%H:%M} UTC"
            )
        return None

    def bake_alarm_names(self) -> list[str]:
        """Every alarm named like a bake's own (one DescribeAlarms page per 100)."""
        try:
            pages = self._client.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=bake_alarm_prefix(), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            return [
                alarm["AlarmName"]
                for page in pages
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]
            ]
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc, "list the bake alarms") from exc

    def delete(self, names: Sequence[str]) -> None:
        """DeleteAlarms takes up to 100 names with at most one composite: each composite on its own first."""
        composites = [name for name in names if task_watched_by(name) is not None]
        others = [name for name in names if task_watched_by(name) is None]
        batches = [[name] for name in composites] + [
            others[start : start + _DESCRIBE_PAGE] for start in range(0, len(others), _DESCRIBE_PAGE)
        ]
        try:
            for batch in batches:
                self._client.delete_alarms(AlarmNames=batch)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc, "delete alarms") from exc

    def delete_for_task(self, task_id: str) -> list[str]:
        """Delete the task's own alarms; names that do not exist are skipped by CloudWatch."""
        names = own_alarm_names(task_id)
        try:
            self._client.delete_alarms(AlarmNames=names)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc, "delete the bake alarms") from exc
        return names
