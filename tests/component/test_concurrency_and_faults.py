"""One active task per model, idempotent requests, and the faults production will throw at the service."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from create_task.app import lambda_handler as create_handler
from finish_abandoned_task.app import lambda_handler as finish_abandoned_handler

from inference_deploy import dependencies
from inference_deploy.logic import prepare_green as smoke_step
from local_stack import lambdas
from local_stack.run_config import trust_policy
from tests.component.workflow_helpers import (
    endpoint_configs,
    endpoints_of,
    executed_states,
    read,
    repair_of,
    request,
    run_task,
)
from tests.conftest import LambdaContext, call_api, load_event, register_model, serve_directly, wait_for

MODEL = "embed-deploy-123"


def _tasks(aws) -> list[dict]:
    items = aws.client("dynamodb").scan(TableName=aws.stack.tables["TasksTable"].name)["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def _executions(aws) -> list[dict]:
    sfn = aws.client("stepfunctions")
    return [
        e for m in aws.stack.state_machines.values() for e in sfn.list_executions(stateMachineArn=m.arn)["executions"]
    ]


def _slot(aws, model_id: str = MODEL) -> dict | None:
    item = (
        aws.client("dynamodb")
        .get_item(TableName=aws.stack.tables["ModelsTable"].name, Key={"embedding_model_id": {"S": model_id}})
        .get("Item", {})
    )
    return item.get("active_task")


def _start_slow_deploy(aws) -> dict:
    """A deploy that stays active: its green never leaves Creating."""
    register_model(aws, MODEL, endpoint_status="Creating")
    created = request("deploy", MODEL)
    assert created.status == 202
    return created.body


# ---------------------------------------------------------------- one active task per model


def test_a_second_task_while_one_is_active_is_a_409_naming_the_active_one(aws):
    active = _start_slow_deploy(aws)
    serve_directly(aws, MODEL)

    for route in ("deploy", "delete"):
        response = request(route, MODEL)
        assert response.status == 409
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.body["code"] == "model_busy"
        assert response.body["active_task_id"] == active["id"]
        assert response.body["active_task_kind"] == "deploy"
    assert len(_tasks(aws)) == 1
    aws.client("stepfunctions").stop_execution(executionArn=active["execution_arn"])


def test_the_next_task_can_start_as_soon_as_a_caller_sees_the_last_one_finish(aws):
    register_model(aws, MODEL)
    for route in ("deploy", "deploy", "delete", "deploy"):
        created = request(route, MODEL)
        assert created.status == 202, created.body
        deadline = time.monotonic() + 120  # a bound against a hang, not a timing assertion
        while (status := read(route, created.body["id"]).body["status"]) not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, f"{route} task {created.body['id']} still {status} after 120 s"
            time.sleep(0.01)
        assert _slot(aws) is None, "a finished task must have freed the slot in the same write"


def test_a_delete_racing_a_running_deploy_waits_for_it(aws, monkeypatch):
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    # A slow green: Creating for 3 looks, no event, a 1 s green wait (about 6 s in all).
    register_model(aws, MODEL, creating_polls=3, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "1")
    dependencies.reset()
    deploy = request("deploy", MODEL).body

    assert request("delete", MODEL).status == 409
    wait_for(aws, deploy["execution_arn"])
    delete = run_task(aws, "delete", MODEL)

    assert delete["status"] == "succeeded", delete["error"]
    assert endpoints_of(aws, MODEL) == {}


def test_a_create_meeting_a_slot_whose_execution_was_aborted_hands_it_to_its_repair(aws):
    """The stale holder is not failed and taken over on the spot (that would leave its green up, or a bake
    unresolved): the request starts the holder's repair and answers 409; once the repair has ended the
    holder, the next request is accepted."""
    # Green may exist by the time the task shows in_progress (one step starts it and creates green): it
    # leaves Creating after a few looks, so the repair can discard it.
    register_model(aws, MODEL, creating_polls=3)
    created = request("deploy", MODEL)
    assert created.status == 202
    stale = created.body
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + 120
    while read("deploy", stale["id"]).body["status"] == "pending":
        assert time.monotonic() < deadline, "the stale deploy never started"
        time.sleep(0.01)
    sfn.stop_execution(executionArn=stale["execution_arn"], error="OperatorAbort")
    wait_for(aws, stale["execution_arn"])
    assert read("deploy", stale["id"]).body["status"] == "in_progress"  # nothing ran its MarkFailed

    register_model(aws, MODEL)
    refused = request("deploy", MODEL)

    assert refused.status == 409, refused.body
    assert "repair" in refused.body["detail"]
    wait_for(aws, repair_of(aws, stale["id"]), timeout=120)
    abandoned = read("deploy", stale["id"]).body
    assert abandoned["status"] == "failed"
    assert abandoned["error"]["code"] == "execution_aborted"
    assert "ended without finishing" in abandoned["error"]["message"]
    fresh = run_task(aws, "deploy", MODEL)
    assert fresh["status"] == "succeeded", fresh["error"]
    assert endpoints_of(aws, MODEL) == {fresh["metadata"]["endpoint_name"]: "InService"}, "the stale green is gone"


def _container_copy(handler_file: str, n: int) -> Any:
    """The function's handler from a module of its own, as a separate Lambda container would load it."""
    path = Path(__file__).resolve().parents[2] / "functions" / handler_file
    spec = importlib.util.spec_from_file_location(f"_container_{n}_{path.parent.name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def test_fifty_concurrent_deploys_of_one_model_accept_exactly_one(aws):
    register_model(aws, MODEL, endpoint_status="Creating")
    event = load_event("deploy")

    # Fifty containers: Lambda never gives one container two requests at once, and Powertools' resolver
    # keeps the request it is handling on the module's `app`, so each thread gets its own copy.
    handlers = [_container_copy("create_task/app.py", n) for n in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda handler: call_api(handler, event), handlers))

    statuses = sorted(r.status for r in responses)
    assert statuses == [202] + [409] * 49
    assert {r.body["code"] for r in responses if r.status == 409} == {"model_busy"}
    assert len(_tasks(aws)) == 1
    assert len(_executions(aws)) == 1
    aws.client("stepfunctions").stop_execution(executionArn=_executions(aws)[0]["executionArn"])


# ---------------------------------------------------------------- idempotent requests


def _with_key(route: str, key: str, body: dict, **overrides) -> dict:
    event = load_event(route, body=json.dumps(body), **overrides)
    event["headers"] = {**event["headers"], "Idempotency-Key": key}
    return event


def test_a_repeated_request_with_the_same_key_gets_the_original_answer(aws):
    register_model(aws, MODEL)
    event = _with_key("deploy", "retry-7f3a", {"embedding_model_id": MODEL})

    first = call_api(create_handler, event)
    wait_for(aws, first.body["execution_arn"])
    again = call_api(create_handler, event)

    assert (first.status, again.status) == (202, 202)
    assert again.body == first.body
    assert again.headers["Location"] == first.headers["Location"]
    assert len(_tasks(aws)) == 1
    assert len(_executions(aws)) == 1


def test_the_same_key_with_another_body_is_refused(aws):
    register_model(aws, MODEL)
    register_model(aws, "other-model")
    call_api(create_handler, _with_key("deploy", "k-1", {"embedding_model_id": MODEL}))

    response = call_api(create_handler, _with_key("deploy", "k-1", {"embedding_model_id": "other-model"}))

    assert response.status == 422
    assert response.body["code"] == "idempotency_key_reused"
    assert len(_tasks(aws)) == 1


def test_keys_are_scoped_to_the_caller(aws):
    register_model(aws, MODEL, endpoint_status="Creating")
    mine = call_api(create_handler, _with_key("deploy", "shared-key", {"embedding_model_id": MODEL}))
    other_caller = _with_key("deploy", "shared-key", {"embedding_model_id": MODEL})
    other_caller["requestContext"]["identity"]["userArn"] = "arn:aws:sts::123456789012:assumed-role/ml-platform-other/s"
    # another admin: a role of the account under the admin pattern
    trust = trust_policy(aws.stack.account_id)
    aws.client("iam").create_role(RoleName="ml-platform-other", AssumeRolePolicyDocument=trust)

    theirs = call_api(create_handler, other_caller)

    assert mine.status == 202
    assert theirs.status == 409, "another caller's key must not replay my answer"
    aws.client("stepfunctions").stop_execution(executionArn=mine.body["execution_arn"])


@pytest.mark.parametrize("key", ["", "x" * 129, "has space", "tab\there", "ünïcode"])
def test_malformed_idempotency_keys_are_refused(aws, key):
    response = call_api(create_handler, _with_key("deploy", key, {"embedding_model_id": MODEL}))

    assert response.status == 422
    assert response.body["errors"][0]["location"].lower() == "header.idempotency-key"
    assert _tasks(aws) == []


def test_a_request_killed_mid_way_does_not_wedge_its_key(aws, monkeypatch):
    """Lambda timing out inside the handler leaves an in-progress record; it must expire with the
    invocation's remaining time, not after the hour."""
    register_model(aws, MODEL)
    event = _with_key("deploy", "killed-once", {"embedding_model_id": MODEL})

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt  # not an Exception: nothing in the process gets to clean up, as in a timeout

    monkeypatch.setattr("create_task.app.create_task", killed)
    with pytest.raises(KeyboardInterrupt):
        create_handler(event, LambdaContext(remaining_ms=20_000))
    busy = call_api(create_handler, event)
    assert busy.status == 409
    assert busy.body["code"] == "request_in_progress"
    assert busy.headers["Retry-After"]
    monkeypatch.undo()

    short_lived = _with_key("deploy", "killed-twice", {"embedding_model_id": MODEL})
    with monkeypatch.context() as patch:
        patch.setattr("create_task.app.create_task", killed)
        with pytest.raises(KeyboardInterrupt):
            create_handler(short_lived, LambdaContext(remaining_ms=1))
    time.sleep(1.1)
    response = call_api(create_handler, _with_key("deploy", "killed-twice", {"embedding_model_id": MODEL}))
    assert response.status == 202, response.body


# ---------------------------------------------------------------- faults


def test_a_throttled_start_leaves_no_orphan_and_frees_the_slot(aws, faults):
    register_model(aws, MODEL)
    faults.fail("stepfunctions", "StartExecution", "ThrottlingException", times=1)

    refused = request("deploy", MODEL)

    assert refused.status == 503
    assert refused.body["code"] == "execution_start_failed"
    assert refused.headers["Retry-After"]
    assert _tasks(aws) == []
    assert _slot(aws) is None
    retried = request("deploy", MODEL)
    assert retried.status == 202


def test_sagemaker_throttling_is_retried_with_backoff_then_succeeds(aws, faults):
    register_model(aws, MODEL)
    faults.fail("sagemaker", "CreateEndpoint", "ThrottlingException", times=2)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    assert faults.calls["CreateEndpoint"] == 3
    assert executed_states(aws, task["execution_arn"]).count("ProvisionGreen") == 1  # one state, retried inside


def test_a_step_that_raises_unexpectedly_is_caught_and_blue_keeps_serving(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)

    def broken(*_args, **_kwargs):
        raise RuntimeError("unexpected bug in a step")

    monkeypatch.setattr("check_green.app.await_green", broken)
    failed = run_task(aws, "deploy", MODEL)

    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "internal_error", "message": "unexpected bug in a step"}
    assert endpoints_of(aws, MODEL) == {blue["metadata"]["endpoint_name"]: "InService"}
    assert failed["metadata"]["endpoint_config_name"] not in endpoint_configs(aws)
    assert read("models", MODEL).body["endpoint_name"] == blue["metadata"]["endpoint_name"]


def test_a_serving_record_changed_under_the_workflow_is_not_overwritten(aws, monkeypatch):
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    real_smoke_test = smoke_step.smoke_test_green

    def someone_switches_meanwhile(event, sagemaker):
        serve_directly(aws, MODEL, endpoint_name="switched-by-someone-else")
        return real_smoke_test(event, sagemaker)

    monkeypatch.setattr(smoke_step, "smoke_test_green", someone_switches_meanwhile)
    failed = run_task(aws, "deploy", MODEL)

    assert failed["error"]["code"] == "serving_record_changed"
    assert read("models", MODEL).body["endpoint_name"] == "switched-by-someone-else"
    assert failed["metadata"]["endpoint_name"] not in endpoints_of(aws, MODEL)


@pytest.mark.parametrize(
    ("changed", "to"),
    [("endpoint_name", "switched-by-someone-else"), ("task_id", "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3")],
)
def test_a_serving_record_that_still_matches_blue_in_one_field_only_is_not_overwritten(aws, monkeypatch, changed, to):
    """The switch needs both blue's task and blue's endpoint to still be there: a record that kept one
    of them (the same task with another endpoint, another task on the same endpoint) has changed."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    real_smoke_test = smoke_step.smoke_test_green

    def someone_changes_one_field_meanwhile(event, sagemaker):
        aws.client("dynamodb").update_item(
            TableName=aws.stack.tables["ModelsTable"].name,
            Key={"embedding_model_id": {"S": MODEL}},
            UpdateExpression="SET serving.#field = :to",
            ExpressionAttributeNames={"#field": changed},
            ExpressionAttributeValues={":to": {"S": to}},
        )
        return real_smoke_test(event, sagemaker)

    monkeypatch.setattr(smoke_step, "smoke_test_green", someone_changes_one_field_meanwhile)
    failed = run_task(aws, "deploy", MODEL)

    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "serving_record_changed"
    serving = read("models", MODEL).body
    assert serving[changed] == to, "the changed record was left as it was"
    kept = "task_id" if changed == "endpoint_name" else "endpoint_name"
    assert serving[kept] == (blue["id"] if kept == "task_id" else blue["metadata"]["endpoint_name"])
    assert failed["metadata"]["endpoint_name"] not in endpoints_of(aws, MODEL)


def test_a_step_that_times_out_is_caught_and_blue_keeps_serving(aws, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    # Lambda reports Sandbox.Timedout when a handler overruns its Timeout; with a zero timeout every
    # invocation of green's verification overruns (moto cannot time a Lambda out, the router can).
    smoke = aws.stack.functions["PrepareGreenFunction"]
    monkeypatch.setitem(lambdas._registry, smoke.arn, dataclasses.replace(smoke, timeout=0))

    failed = run_task(aws, "deploy", MODEL)

    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "step_timeout"
    assert endpoints_of(aws, MODEL) == {blue["metadata"]["endpoint_name"]: "InService"}
    assert read("models", MODEL).body["endpoint_name"] == blue["metadata"]["endpoint_name"]


def test_an_aborted_execution_finishes_its_task_without_waiting_for_another_request(aws, monkeypatch):
    """Step Functions sends "Execution Status Change" to EventBridge (moto does not deliver it: the
    test hands the handler the event AWS would, for the execution it really aborted)."""
    # Green waits for an event that never comes, and is deletable soon after (the repair deletes it).
    register_model(aws, MODEL, creating_polls=2, state_change_events="false")
    monkeypatch.setenv("GREEN_EVENT_WAIT_SECONDS", "3600")
    stale = request("deploy", MODEL).body
    while read("deploy", stale["id"]).body["status"] == "pending":
        time.sleep(0.01)
    aws.client("stepfunctions").stop_execution(executionArn=stale["execution_arn"], error="OperatorAbort")
    wait_for(aws, stale["execution_arn"])
    event = load_event("execution_status_change")
    event["detail"].update(executionArn=stale["execution_arn"], name=stale["id"], error="OperatorAbort")

    finish_abandoned_handler(event, LambdaContext())
    finish_abandoned_handler(event, LambdaContext())  # EventBridge delivers at least once
    wait_for(aws, repair_of(aws, stale["id"]), timeout=60)  # the repair ends the task

    task = read("deploy", stale["id"]).body
    assert task["status"] == "failed"
    assert task["error"]["code"] == "execution_aborted"
    assert "ABORTED" in task["error"]["message"]
    assert _slot(aws) is None
    register_model(aws, MODEL)
    assert request("deploy", MODEL).status == 202


def test_a_status_event_for_a_task_the_workflow_finished_changes_nothing(aws):
    register_model(aws, MODEL, response="nan")
    failed = run_task(aws, "deploy", MODEL)
    event = load_event("execution_status_change")
    event["detail"].update(executionArn=failed["execution_arn"], name=failed["id"], status="FAILED")

    finish_abandoned_handler(event, LambdaContext())

    assert read("deploy", failed["id"]).body == failed
