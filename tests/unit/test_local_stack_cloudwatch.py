"""The emulated CloudWatch: composite alarms take their rule's state from their children, and every
change of an alarm's state value publishes CloudWatch's "Alarm State Change" event (moto does neither)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_stack.cloudwatch import RuleError, add_alarm_state_listener, alarm_names_of, evaluate
from local_stack.moto_patches import CloudWatchEmulator
from tests.conftest import put_alarm


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    with mock_aws(), CloudWatchEmulator():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        for name in ("a", "b", "c"):
            put_alarm(client, name)
        yield client


class _Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> None:
        assert event["source"] == "aws.cloudwatch"
        assert event["detail-type"] == "CloudWatch Alarm State Change"
        with self._cond:
            self.seen.append((event["detail"]["alarmName"], event["detail"]["state"]["value"]))
            self._cond.notify_all()

    def wait_for(self, expected: tuple[str, str]) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: expected in self.seen, timeout=10), self.seen


def _state(client: Any, name: str) -> str:
    found = client.describe_alarms(AlarmNames=[name])
    return str([*found["MetricAlarms"], *found["CompositeAlarms"]][0]["StateValue"])


@pytest.mark.parametrize(
    ("rule", "states", "holds"),
    [
        ('ALARM("a") OR ALARM("b")', {"a": "OK", "b": "ALARM"}, True),
        ('ALARM("a") OR ALARM("b")', {"a": "OK", "b": "OK"}, False),
        ('ALARM("a") AND ALARM("b")', {"a": "ALARM", "b": "OK"}, False),
        ('ALARM(a) AND NOT OK("b")', {"a": "ALARM", "b": "INSUFFICIENT_DATA"}, True),
        ('(ALARM("a") OR ALARM("b")) AND ALARM("c")', {"a": "ALARM", "b": "OK", "c": "OK"}, False),
        ('ALARM("a") OR ALARM("b") AND ALARM("c")', {"a": "ALARM", "b": "OK", "c": "OK"}, True),
        ('ALARM("arn:aws:cloudwatch:us-east-1:123456789012:alarm:a")', {"a": "ALARM"}, True),
        ("TRUE AND NOT FALSE", {}, True),
    ],
)
def test_a_rule_holds_as_cloudwatch_evaluates_it(rule, states, holds):
    assert evaluate(rule, states.get) is holds


@pytest.mark.parametrize("rule", ['ALARM("a"', 'ALARM("a") OR', 'SOMETIMES("a")', 'ALARM("a") ALARM("b")'])
def test_a_rule_that_does_not_parse_is_refused(rule):
    with pytest.raises(RuleError):
        alarm_names_of(rule)


def test_a_composite_follows_its_children_and_every_change_is_an_event(cloudwatch):
    events = _Events()
    remove = add_alarm_state_listener(events)
    try:
        cloudwatch.put_composite_alarm(AlarmName="w", AlarmRule='ALARM("a") OR ALARM("b")')
        assert _state(cloudwatch, "w") == "OK"
        events.wait_for(("w", "OK"))  # from INSUFFICIENT_DATA at creation

        cloudwatch.set_alarm_state(AlarmName="b", StateValue="ALARM", StateReason="7 errors")
        events.wait_for(("b", "ALARM"))
        events.wait_for(("w", "ALARM"))
        assert _state(cloudwatch, "w") == "ALARM"

        cloudwatch.set_alarm_state(AlarmName="b", StateValue="OK", StateReason="calm")
        events.wait_for(("w", "OK"))
        assert _state(cloudwatch, "w") == "OK"
    finally:
        remove()
    assert events.seen.count(("b", "ALARM")) == 1


def test_a_set_alarm_state_that_changes_nothing_publishes_nothing(cloudwatch):
    events = _Events()
    cloudwatch.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="first")
    remove = add_alarm_state_listener(events)
    try:
        cloudwatch.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="again")
        cloudwatch.set_alarm_state(AlarmName="c", StateValue="ALARM", StateReason="marker")
        events.wait_for(("c", "ALARM"))
    finally:
        remove()
    assert ("a", "ALARM") not in events.seen


def test_a_composite_created_over_an_alarm_in_alarm_starts_in_alarm(cloudwatch):
    cloudwatch.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="already")
    cloudwatch.put_composite_alarm(AlarmName="w", AlarmRule='ALARM("a") OR ALARM("b")')
    assert _state(cloudwatch, "w") == "ALARM"


def test_a_composite_naming_a_missing_alarm_is_refused(cloudwatch):
    with pytest.raises(ClientError) as refused:
        cloudwatch.put_composite_alarm(AlarmName="w", AlarmRule='ALARM("a") OR ALARM("nope")')
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "nope" in refused.value.response["Error"]["Message"]
    assert cloudwatch.describe_alarms(AlarmNames=["w"])["CompositeAlarms"] == []
