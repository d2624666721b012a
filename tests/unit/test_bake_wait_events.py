"""The pieces of the event-driven bake that need no AWS: which alarm events the rule lets through and
how an alarm's name leads to the task whose bake it ends."""

from __future__ import annotations

import pytest

from inference_deploy.adapters.alarms import own_alarm_names, task_of_alarm, task_watched_by, watch_alarm_name
from inference_deploy.ids import new_ulid
from inference_deploy.naming import bake_alarm_prefix
from local_stack.emulator import EmulatedAws
from local_stack.eventbridge import matches
from local_stack.template import load_template
from tests.conftest import TEMPLATE


def _rule_pattern() -> dict:
    """The rule as deployed: its alarm name prefix is the stack's (`!Sub`), resolved as the local stack does."""
    (pattern,) = load_template(TEMPLATE).functions["ResumeBakeFunction"].event_patterns
    with EmulatedAws(TEMPLATE) as aws:
        return dict(aws.stack.resolver().resolve(dict(pattern)))


def _event(name: str, state: str = "ALARM", source: str = "aws.cloudwatch") -> dict:
    return {
        "source": source,
        "detail-type": "CloudWatch Alarm State Change",
        "detail": {"alarmName": name, "state": {"value": state}, "previousState": {"value": "OK"}},
    }


def test_the_rule_delivers_a_bake_alarm_going_to_alarm():
    assert matches(_rule_pattern(), _event(watch_alarm_name(f"deploy-{new_ulid()}")))


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_the_rule_ignores_a_bake_alarm_going_anywhere_else(state):
    assert not matches(_rule_pattern(), _event(watch_alarm_name(f"deploy-{new_ulid()}"), state))


def test_the_rule_ignores_other_alarms_and_sources():
    assert not matches(_rule_pattern(), _event("search-api-error-rate"))
    assert not matches(_rule_pattern(), _event(watch_alarm_name("deploy-x"), source="aws.sagemaker"))


def test_the_rule_delivers_a_bakes_own_metric_alarm_going_to_alarm():
    """Without the caller's alarms there is no composite: the own alarms' events wake the bake."""
    errors, latency, _ = own_alarm_names(f"deploy-{new_ulid()}")
    assert matches(_rule_pattern(), _event(errors))
    assert matches(_rule_pattern(), _event(latency))


def test_each_alarm_a_bake_makes_leads_to_its_task_and_no_other_does():
    task_id = f"deploy-{new_ulid()}"
    for name in own_alarm_names(task_id):
        assert task_of_alarm(name) == task_id
    assert task_watched_by(watch_alarm_name(task_id)) == task_id
    assert task_of_alarm("search-api-error-rate-watch") is None
    assert task_of_alarm(f"another-stack-bake-{task_id}-5xx") is None
    assert task_watched_by(f"{bake_alarm_prefix()}-watch") is None
