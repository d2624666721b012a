"""The pieces of the event-driven green wait that need no AWS: which events the rule lets through,
how an event finds its task, how the emulator spells statuses in events."""

from __future__ import annotations

import pytest

from inference_deploy.ids import new_ulid
from inference_deploy.logic.green_wait import _deploy_task_of
from inference_deploy.naming import green_endpoint
from local_stack.eventbridge import matches
from local_stack.sagemaker import _event_status
from local_stack.template import load_template
from tests.conftest import TEMPLATE


def _rule_pattern() -> dict:
    (pattern,) = load_template(TEMPLATE).functions["ResumeGreenWaitFunction"].event_patterns
    return dict(pattern)


def _event(status: str, source: str = "aws.sagemaker") -> dict:
    return {
        "source": source,
        "detail-type": "SageMaker Endpoint State Change",
        "detail": {"EndpointName": "embed-x-01abc", "EndpointStatus": status},
    }


@pytest.mark.parametrize(("status", "delivered"), [("IN_SERVICE", True), ("FAILED", True), ("CREATING", False)])
def test_the_rule_delivers_only_settled_endpoints(status, delivered):
    assert matches(_rule_pattern(), _event(status)) is delivered


def test_the_rule_ignores_other_sources():
    assert not matches(_rule_pattern(), _event("IN_SERVICE", source="aws.states"))


def test_a_green_endpoint_name_leads_to_its_deploy_task_whatever_the_model_id():
    for model in ("embed-a", "x" * 200):
        task_id = f"deploy-{new_ulid()}"
        assert _deploy_task_of(green_endpoint(model, task_id).endpoint_name) == task_id


@pytest.mark.parametrize("name", ["blue-endpoint", "some-other-team-endpoint-with-a-long-name-xxxxxx", "01ABC"])
def test_an_endpoint_name_without_a_task_ulid_leads_nowhere(name):
    assert _deploy_task_of(name) is None


@pytest.mark.parametrize(
    ("status", "spelled"),
    [("InService", "IN_SERVICE"), ("Failed", "FAILED"), ("OutOfService", "OUT_OF_SERVICE"), ("Creating", "CREATING")],
)
def test_the_emulator_spells_statuses_as_the_event_does(status, spelled):
    assert _event_status(status) == spelled
