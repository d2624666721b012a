"""The reconciler deletes what this stack created and nothing owns, and never anything else."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from inference_deploy import dependencies
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.ids import new_task_id
from inference_deploy.models.task import TaskKind
from inference_deploy.naming import bake_alarm_prefix, green_endpoint, resource_tags
from local_stack import lambdas
from local_stack.emulator import EmulatedAws
from local_stack.sagemaker import settle_endpoint
from tests.component.workflow_helpers import endpoint_configs, endpoints_of, executed_states, read, request, run_task
from tests.conftest import register_model, wait_for

MODEL = "embed-reconcile-1"
ORPHAN_FOUND = "OrphanEndpointFound"
LONG = 3600  # a bake the test interrupts, never sits out


def reconcile(aws: EmulatedAws, monkeypatch: Any, *, grace: int = 0, dry_run: bool = False) -> dict[str, Any]:
    """One scheduled run, invoked through Lambda with the template's variables (grace and dry run overridden)."""
    function = aws.stack.function("ReconcileEndpointsFunction")
    environment = {
        **function.environment,
        "RECONCILE_GRACE_SECONDS": str(grace),
        "RECONCILE_DRY_RUN": str(dry_run).lower(),
    }
    monkeypatch.setitem(lambdas._registry, function.arn, dataclasses.replace(function, environment=environment))
    answer = aws.client("lambda").invoke(FunctionName=function.name, Payload=json.dumps({"source": "aws.events"}))
    assert "FunctionError" not in answer, answer["Payload"].read()
    report: dict[str, Any] = json.loads(answer["Payload"].read())
    return report


def create_endpoint(aws: EmulatedAws, name: str, model: str, tags: dict[str, str]) -> None:
    sagemaker = aws.client("sagemaker")
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 1}
        ],
        Tags=tag_list,
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tag_list)


def _deployment_target(aws: EmulatedAws) -> str:
    return str(aws.stack.function("ReconcileEndpointsFunction").environment["DEPLOYMENT_TARGET"])


def _plant_orphan(aws: EmulatedAws, model: str, *, task_id: str | None = None, target: str | None = None) -> str:
    """An endpoint and its config named and tagged as a task of this service makes them (`task_id` names
    a task that was never written unless given), with `target` as their deployment target."""
    task_id = task_id or new_task_id(TaskKind.DEPLOY)
    name = green_endpoint(model, task_id).endpoint_name
    create_endpoint(aws, name, model, resource_tags(model, task_id, target or _deployment_target(aws)))
    return name


def test_what_a_failed_first_deploy_could_not_clean_up_is_deleted(aws, faults, monkeypatch):
    register_model(aws, MODEL, response="nan")
    faults.fail("sagemaker", "DeleteEndpoint", "AccessDeniedException", times=1)
    failed = run_task(aws, "deploy", MODEL)
    green = failed["metadata"]["endpoint_name"]
    assert failed["metadata"]["green_discarded"] is False
    assert endpoints_of(aws, MODEL) == {green: "InService"}
    assert request("delete", MODEL).status == 404, "never served: no delete task can remove it"

    report = reconcile(aws, monkeypatch)

    assert report["deleted"] == [green]
    assert endpoints_of(aws, MODEL) == {}
    assert endpoint_configs(aws) == set()


def test_a_blue_whose_retirement_failed_is_deleted_and_the_serving_green_kept(aws, faults, monkeypatch):
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)
    faults.fail("sagemaker", "DeleteEndpoint", "AccessDeniedException", times=1)
    green = run_task(aws, "deploy", MODEL)
    assert green["status"] == "succeeded"
    assert green["metadata"]["retire_blue_error"]["code"] == "sagemaker_error"

    report = reconcile(aws, monkeypatch)

    assert report["deleted"] == sorted({blue["metadata"]["endpoint_name"], blue["metadata"]["endpoint_config_name"]})
    assert endpoints_of(aws, MODEL) == {green["metadata"]["endpoint_name"]: "InService"}
    assert endpoint_configs(aws) == {green["metadata"]["endpoint_config_name"]}


def test_an_orphan_sagemaker_refuses_to_delete_is_deleted_once_it_allows(aws, monkeypatch):
    """A green left Creating (a deploy that gave up on it): busy until SageMaker lets it go."""
    register_model(aws, MODEL, endpoint_status="Creating")  # Creating until the test settles it
    green = _plant_orphan(aws, MODEL)

    refused = reconcile(aws, monkeypatch)
    settle_endpoint(sagemaker_backends[DEFAULT_ACCOUNT_ID][aws.region], green, "Failed")
    allowed = reconcile(aws, monkeypatch)

    assert green in refused["busy"], "SageMaker refused the delete while green was Creating"
    assert refused["deleted"] == [], "its config stays while the endpoint does"
    assert allowed["deleted"] == [green, green]  # the endpoint, then its config
    assert endpoints_of(aws, MODEL) == {}
    assert endpoint_configs(aws) == set()


def test_nothing_owned_or_foreign_is_ever_touched(aws, monkeypatch):
    register_model(aws, MODEL)
    served = run_task(aws, "deploy", MODEL)["metadata"]["endpoint_name"]
    register_model(aws, MODEL, endpoint_status="Creating")
    active = request("deploy", MODEL).body["metadata"]["endpoint_name"]  # its task holds the slot
    deadline = time.monotonic() + 60
    while active not in endpoints_of(aws, MODEL):
        assert time.monotonic() < deadline, "the active task never created its green"
        time.sleep(0.05)
    register_model(aws, "other-model")
    create_endpoint(
        aws,
        "other-stack-1",
        "other-model",
        {
            "managed_by": "inference-deployment-tasks",
            "deployment_target": "another-cluster",
            "embedding_model_id": "other-model",
        },
    )
    create_endpoint(aws, "hand-made-1", "other-model", {"embedding_model_id": "other-model"})
    before = {**endpoints_of(aws, MODEL), **endpoints_of(aws, "other-model")}

    report = reconcile(aws, monkeypatch)

    assert report["deleted"] == []
    assert report["busy"] == []
    assert {**endpoints_of(aws, MODEL), **endpoints_of(aws, "other-model")} == before
    assert set(before) == {served, active, "other-stack-1", "hand-made-1"}


def test_young_orphans_of_an_unknown_task_wait_for_the_grace_period_and_a_dry_run_deletes_nothing(aws, monkeypatch):
    register_model(aws, MODEL)
    orphan = _plant_orphan(aws, MODEL)

    young = reconcile(aws, monkeypatch, grace=3600)
    dry = reconcile(aws, monkeypatch, dry_run=True)

    assert young["deleted"] == young["would_delete"] == []
    assert dry["deleted"] == []
    assert dry["would_delete"] == [orphan, orphan]  # the endpoint, then its config
    assert endpoints_of(aws, MODEL) == {orphan: "InService"}
    dependencies.reset()


# ---------------------------------------------------------------- the grace period and finished tasks


def test_a_finished_tasks_leftovers_need_no_grace_while_an_active_tasks_green_keeps_it(aws, faults, monkeypatch):
    register_model(aws, MODEL, response="nan")
    faults.fail("sagemaker", "DeleteEndpoint", "AccessDeniedException", times=1)
    failed = run_task(aws, "deploy", MODEL)
    leftover = failed["metadata"]["endpoint_name"]
    assert failed["status"] == "failed"
    assert endpoints_of(aws, MODEL) == {leftover: "InService"}
    register_model(aws, "other-model", endpoint_status="Creating")
    active = request("deploy", "other-model").body
    green = active["metadata"]["endpoint_name"]
    deadline = time.monotonic() + 60
    while green not in endpoints_of(aws, "other-model"):
        assert time.monotonic() < deadline, "the active task never created its green"
        time.sleep(0.05)

    report = reconcile(aws, monkeypatch, grace=3600)

    assert report["deleted"] == [leftover], "its task failed: nothing will come back for it"
    assert endpoints_of(aws, MODEL) == {}
    assert endpoints_of(aws, "other-model") == {green: "Creating"}, "its task is still working on it"


# ---------------------------------------------------------------- the bake: blue is owned as `previous`


def _models_table(aws: EmulatedAws) -> str:
    return aws.stack.tables["ModelsTable"].name


def _served(aws: EmulatedAws) -> dict[str, Any]:
    item = aws.client("dynamodb").get_item(TableName=_models_table(aws), Key={"embedding_model_id": {"S": MODEL}})
    return item["Item"]


def _baking(aws: EmulatedAws, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A served model (blue) and a second deploy parked in its bake: (blue's metadata, the green task)."""
    register_model(aws, MODEL)
    blue = run_task(aws, "deploy", MODEL)["metadata"]
    created = request("deploy", MODEL, bake_seconds=LONG, **fields)
    assert created.status == 202, created.body
    deadline = time.monotonic() + 120
    while "AwaitBake" not in executed_states(aws, created.body["execution_arn"]):
        assert time.monotonic() < deadline, "the deploy never reached its bake"
        time.sleep(0.05)
    return blue, created.body


def test_a_reconcile_during_a_bake_keeps_blue_even_once_the_slot_is_free(aws, monkeypatch):
    blue, green = _baking(aws)
    # What a bake check that fails (or an abandoned execution) can leave: the slot free while the
    # record still keeps blue as `previous`, to go back to.
    aws.client("dynamodb").update_item(
        TableName=_models_table(aws), Key={"embedding_model_id": {"S": MODEL}}, UpdateExpression="REMOVE active_task"
    )
    assert _served(aws)["serving"]["M"]["previous"]["M"]["endpoint_name"]["S"] == blue["endpoint_name"]

    report = reconcile(aws, monkeypatch)

    assert report["deleted"] == []
    assert endpoints_of(aws, MODEL) == {
        blue["endpoint_name"]: "InService",
        green["metadata"]["endpoint_name"]: "InService",
    }
    assert {blue["endpoint_config_name"], green["metadata"]["endpoint_config_name"]} <= endpoint_configs(aws)


def _after_the_first_read_of_the_models_table(monkeypatch: Any, then: Callable[[], None]) -> None:
    """Run `then` once, in this thread (the reconciler's: Lambda invokes run in the caller's thread),
    right after the first read of a model's item, whichever ModelStore method made it."""
    caller = threading.get_ident()
    fired = threading.Event()

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        def read_then(self: ModelStore, *args: Any, **kwargs: Any) -> Any:
            answer = method(self, *args, **kwargs)
            if threading.get_ident() == caller and not fired.is_set():
                fired.set()
                then()
            return answer

        return read_then

    for name in ("serving", "active_task", "model_state", "ownership"):
        if hasattr(ModelStore, name):
            monkeypatch.setattr(ModelStore, name, wrap(getattr(ModelStore, name)))


def test_a_rollback_landing_while_the_reconciler_runs_does_not_make_blue_look_unowned(aws, monkeypatch):
    blue, green = _baking(aws)
    models = ModelStore(_models_table(aws), client=aws.client("dynamodb"))
    during = models.serving(MODEL)
    assert during is not None
    assert during.previous is not None
    sfn = aws.client("stepfunctions")

    def roll_back() -> None:
        """What a rollback (or a cancel during the bake) commits: blue serves again, the slot is free.
        Written here, with the execution stopped first, so the moment it lands is the test's choice."""
        sfn.stop_execution(executionArn=green["execution_arn"], error="TestRollsBackItself")
        wait_for(aws, green["execution_arn"])
        assert during.previous is not None
        assert models.roll_back(MODEL, green["id"], during.previous)
        models.release_slot(MODEL, green["id"])

    _after_the_first_read_of_the_models_table(monkeypatch, roll_back)

    report = reconcile(aws, monkeypatch)

    assert read("models", MODEL).body["endpoint_name"] == blue["endpoint_name"], "the rollback landed during the run"
    assert blue["endpoint_name"] not in report["deleted"]
    assert blue["endpoint_config_name"] not in report["deleted"]
    assert report["deleted"] == [green["metadata"]["endpoint_name"], green["metadata"]["endpoint_config_name"]], (
        "green, rolled back from, is nobody's"
    )
    assert endpoints_of(aws, MODEL) == {blue["endpoint_name"]: "InService"}
    assert endpoint_configs(aws) == {blue["endpoint_config_name"]}


def test_bake_alarms_that_outlived_their_task_are_deleted_and_an_active_bakes_are_kept(aws, faults, monkeypatch):
    """CloudWatch failing past MarkSucceeded's retries leaves the bake's alarms (named in the task's
    metadata); the next run deletes them. A bake still running keeps its own."""
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    # RetireBlue's attempt to end the task, then MarkSucceeded's three
    faults.fail("cloudwatch", "DeleteAlarms", "Throttling", times=4)
    done = run_task(aws, "deploy", MODEL, bake_seconds=1, green_alarms=True)
    assert done["status"] == "succeeded", done["error"]
    left = set(done["metadata"]["bake_alarms_left"])
    register_model(aws, "embed-reconcile-2")
    run_task(aws, "deploy", "embed-reconcile-2")
    baking = request("deploy", "embed-reconcile-2", bake_seconds=LONG, green_alarms=True).body
    deadline = time.monotonic() + 120
    while "AwaitBake" not in executed_states(aws, baking["execution_arn"]):
        assert time.monotonic() < deadline, "the second deploy never baked"
        time.sleep(0.05)
    found = aws.client("cloudwatch").describe_alarms()
    alarms = {a["AlarmName"] for a in [*found["MetricAlarms"], *found["CompositeAlarms"]]}
    assert left <= alarms

    assert set(reconcile(aws, monkeypatch, dry_run=True)["would_delete"]) >= left
    report = reconcile(aws, monkeypatch)

    assert left <= set(report["deleted"])
    found = aws.client("cloudwatch").describe_alarms()
    remaining = {a["AlarmName"] for a in [*found["MetricAlarms"], *found["CompositeAlarms"]]}
    assert remaining == alarms - left
    assert {a for a in remaining if baking["id"] in a} == {
        f"{bake_alarm_prefix()}{baking['id']}-5xx",
        f"{bake_alarm_prefix()}{baking['id']}-latency",
    }
