"""The reconciler deletes what this stack created and nothing owns, and never anything else."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from inference_deploy import dependencies
from local_stack import lambdas
from local_stack.emulator import EmulatedAws
from tests.component.workflow_helpers import endpoint_configs, endpoints_of, request, run_task
from tests.conftest import register_model

MODEL = "embed-reconcile-1"
ORPHAN_FOUND = "OrphanEndpointFound"


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


def test_a_green_sagemaker_refused_to_delete_is_deleted_once_it_allows(aws, monkeypatch):
    register_model(aws, MODEL, creating_polls=6, endpoint_status="Failed")
    monkeypatch.setenv("GREEN_TIMEOUT_SECONDS", "0")
    monkeypatch.setenv("REMOVAL_TIMEOUT_SECONDS", "0")
    failed = run_task(aws, "deploy", MODEL)
    green = failed["metadata"]["endpoint_name"]
    assert failed["metadata"]["discard_green_error"]["code"] == "endpoint_busy"

    reports = [reconcile(aws, monkeypatch)]
    while green not in reports[-1]["deleted"]:
        assert len(reports) < 10, reports
        reports.append(reconcile(aws, monkeypatch))

    assert green in reports[0]["busy"], "SageMaker refused the delete while green was Creating"
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


def test_young_orphans_wait_for_the_grace_period_and_a_dry_run_deletes_nothing(aws, faults, monkeypatch):
    register_model(aws, MODEL, response="nan")
    faults.fail("sagemaker", "DeleteEndpoint", "AccessDeniedException", times=1)
    green = run_task(aws, "deploy", MODEL)["metadata"]["endpoint_name"]

    young = reconcile(aws, monkeypatch, grace=3600)
    dry = reconcile(aws, monkeypatch, dry_run=True)

    assert young["deleted"] == young["would_delete"] == []
    assert dry["deleted"] == []
    assert dry["would_delete"] == [green]  # its config went with the failed discard
    assert endpoints_of(aws, MODEL) == {green: "InService"}
    dependencies.reset()
