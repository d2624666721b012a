"""Two stacks with different deployment targets in one account: what one deletes, the other keeps.

Both name their endpoints `idt-<model>-<task ULID>` and tag them managed_by; only the
`deployment_target` tag tells them apart. The other stack's endpoint is made here with boto3 on the
emulated SageMaker, named and tagged as that stack's ProvisionGreen would."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from inference_deploy.ids import new_task_id
from inference_deploy.models.task import TaskKind
from inference_deploy.naming import green_endpoint, resource_tags
from local_stack import lambdas
from local_stack.emulator import EmulatedAws
from tests.component.workflow_helpers import endpoint_configs, endpoints_of, run_task
from tests.conftest import register_model

MODEL = "embed-shared-1"
OTHER_TARGET = "inference-cluster-staging"


def _target(aws: EmulatedAws) -> str:
    return str(aws.stack.function("ReconcileEndpointsFunction").environment["DEPLOYMENT_TARGET"])


def _endpoint_of(aws: EmulatedAws, target: str) -> str:
    """An InService endpoint and its config for MODEL, as the stack deploying to `target` makes them; its
    task is that stack's, unknown here, and no slot or serving record of this stack names it."""
    task_id = new_task_id(TaskKind.DEPLOY)
    name = green_endpoint(MODEL, task_id).endpoint_name
    tags = [{"Key": k, "Value": v} for k, v in resource_tags(MODEL, task_id, target).items()]
    sagemaker = aws.client("sagemaker")
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": MODEL,
        "InstanceType": "ml.m5.xlarge",
        "InitialInstanceCount": 1,
    }
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], Tags=tags)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)
    return name


def _reconcile(aws: EmulatedAws, monkeypatch: Any) -> dict[str, Any]:
    """One scheduled run of this stack's reconciler, through Lambda, with no grace period."""
    function = aws.stack.function("ReconcileEndpointsFunction")
    environment = {**function.environment, "RECONCILE_GRACE_SECONDS": "0", "RECONCILE_DRY_RUN": "false"}
    monkeypatch.setitem(lambdas._registry, function.arn, dataclasses.replace(function, environment=environment))
    answer = aws.client("lambda").invoke(FunctionName=function.name, Payload=json.dumps({"source": "aws.events"}))
    assert "FunctionError" not in answer, answer["Payload"].read()
    report: dict[str, Any] = json.loads(answer["Payload"].read())
    return report


def test_a_delete_in_this_stack_leaves_the_other_stacks_endpoint_of_the_same_model(aws):
    register_model(aws, MODEL)
    served = run_task(aws, "deploy", MODEL)["metadata"]
    theirs = _endpoint_of(aws, OTHER_TARGET)
    orphan = _endpoint_of(aws, _target(aws))  # ours, left by a crash: the sweep takes it

    task = run_task(aws, "delete", MODEL)

    assert task["status"] == "succeeded", task["error"]
    deleted = set(task["metadata"]["deleted_resources"])
    assert deleted == {served["endpoint_name"], orphan}
    assert theirs not in deleted
    assert endpoints_of(aws, MODEL) == {theirs: "InService"}
    assert endpoint_configs(aws) == {theirs}


def test_a_reconcile_in_this_stack_leaves_the_other_stacks_orphan_of_the_same_model(aws, monkeypatch):
    register_model(aws, MODEL)
    theirs = _endpoint_of(aws, OTHER_TARGET)
    ours = _endpoint_of(aws, _target(aws))

    report = _reconcile(aws, monkeypatch)

    assert report["deleted"] == [ours, ours], "ours goes, endpoint then config"
    assert endpoints_of(aws, MODEL) == {theirs: "InService"}
    assert endpoint_configs(aws) == {theirs}
