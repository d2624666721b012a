"""Steps retried after a write that landed, and compensations that must not make things worse.

Lambda and the SDK retry: a step's write can land while its answer is lost. Each case here makes the
first call of a step do its work and then fail, as a lost response would, and checks that the retry
neither undoes the work nor loses what the compensation needs."""

from __future__ import annotations

import time
from typing import Any

import switch_traffic.app as switch_step
import unroute_model.app as unroute_step
from botocore.awsrequest import AWSResponse

from inference_deploy.adapters import aws as aws_clients
from inference_deploy.adapters.executions import Executions
from inference_deploy.errors import ExecutionStartFailed, StoreUnavailable
from tests.component.workflow_helpers import endpoint_configs, endpoints_of, read, request, run_task
from tests.conftest import register_model, wait_for

MODEL = "embed-deploy-123"


def _answer_lost_once(real: Any) -> Any:
    calls = {"n": 0}

    def step(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        result = real(*args, **kwargs)
        if calls["n"] == 1:
            raise StoreUnavailable("the write landed but its answer was lost")
        return result

    return step


def test_a_retried_switch_keeps_green_serving(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    monkeypatch.setattr(switch_step, "switch_traffic", _answer_lost_once(switch_step.switch_traffic))

    green = run_task(aws, "deploy", MODEL)

    assert green["status"] == "succeeded", green["error"]
    assert read("models", MODEL).body["endpoint_name"] == green["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {green["metadata"]["endpoint_name"]: "InService"}
    assert blue["metadata"]["endpoint_name"] not in endpoints_of(aws, MODEL)


def test_a_retried_unroute_still_lets_a_failed_removal_restore_routing(aws, monkeypatch, faults):
    register_model(aws, MODEL)
    served = run_task(aws, "deploy", MODEL)["metadata"]["endpoint_name"]
    monkeypatch.setattr(unroute_step, "unroute_model", _answer_lost_once(unroute_step.unroute_model))
    faults.fail("sagemaker", "ListEndpoints", "AccessDeniedException")

    failed = run_task(aws, "delete", MODEL)

    assert failed["status"] == "failed"
    assert failed["metadata"]["removed_endpoint_name"] == served
    assert read("models", MODEL).body["endpoint_name"] == served
    assert endpoints_of(aws, MODEL) == {served: "InService"}


def test_a_half_created_green_is_cleaned_without_touching_what_does_not_exist(aws, faults):
    register_model(aws, MODEL)
    faults.fail("sagemaker", "CreateEndpoint", "ResourceLimitExceeded")

    failed = run_task(aws, "deploy", MODEL)

    assert failed["error"]["code"] == "sagemaker_error"
    assert "ResourceLimitExceeded" in failed["error"]["message"]
    assert endpoint_configs(aws) == set(), "the config green got before CreateEndpoint failed is gone"
    assert faults.calls.get("DeleteEndpoint", 0) == 0, "no delete of an endpoint that never existed"
    assert failed["metadata"]["green_discarded"] is True


def test_a_green_that_cannot_be_discarded_is_reported_on_the_task(aws, faults):
    register_model(aws, MODEL, response="nan")
    faults.fail("sagemaker", "DeleteEndpoint", "AccessDeniedException")

    failed = run_task(aws, "deploy", MODEL)

    assert failed["error"]["code"] == "smoke_test_failed"
    assert failed["metadata"]["green_discarded"] is False
    assert failed["metadata"]["discard_green_error"]["code"] == "sagemaker_error"
    assert endpoint_configs(aws) == set(), "the config is still deleted when the endpoint delete fails"


def test_a_config_not_yet_visible_to_create_endpoint_is_retried_not_reported_as_a_missing_model(aws):
    register_model(aws, MODEL)
    calls = {"n": 0}

    def eventually_consistent(**_: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            return None
        message = 'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/x".'
        return (
            AWSResponse("https://fault.invalid", 400, {}, None),
            {"Error": {"Code": "ValidationException", "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        )

    aws_clients.sagemaker().meta.events.register(
        "before-call.api.sagemaker.CreateEndpoint", eventually_consistent, unique_id="eventual"
    )

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    assert calls["n"] >= 2


def test_deleting_a_never_served_model_with_a_stale_slot_is_a_404_not_a_409(aws):
    register_model(aws, MODEL, endpoint_status="Creating")
    created = request("deploy", MODEL).body
    deadline = time.monotonic() + 120  # a bound against a hang, not a timing assertion
    while read("deploy", created["id"]).body["status"] == "pending":
        assert time.monotonic() < deadline, "the deploy never started"
        time.sleep(0.01)
    aws.client("stepfunctions").stop_execution(executionArn=created["execution_arn"])
    wait_for(aws, created["execution_arn"])

    response = request("delete", MODEL)

    assert response.status == 404
    assert response.body["code"] == "model_not_served"


def test_a_start_whose_answer_was_lost_is_a_202_for_the_running_task(aws, monkeypatch):
    register_model(aws, MODEL)
    real_start = Executions.start

    def started_but_answer_lost(self, kind, name, payload):
        real_start(self, kind, name, payload)
        raise ExecutionStartFailed("could not start the deploy workflow (connection reset)")

    monkeypatch.setattr(Executions, "start", started_but_answer_lost)
    response = request("deploy", MODEL)

    assert response.status == 202, response.body
    wait_for(aws, response.body["execution_arn"])
    assert read("deploy", response.body["id"]).body["status"] == "succeeded"
