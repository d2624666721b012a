"""Removing a model from emulated SageMaker, running the real delete ASL on moto's interpreter."""

from __future__ import annotations

from inference_deploy.naming import ENDPOINT_NAME_PREFIX
from tests.component.workflow_helpers import endpoint_configs, endpoints_of, executed_states, read, request, run_task
from tests.conftest import register_model

MODEL = "embed-deploy-123"


def _plant_orphan(aws, model_id: str, name: str, *, managed: bool = True) -> None:
    """An endpoint and config tagged with the model, as a crashed deploy would leave them."""
    sagemaker = aws.client("sagemaker")
    tags = [{"Key": "embedding_model_id", "Value": model_id}]
    if managed:
        target = aws.stack.function("SweepModelEndpointsFunction").environment["DEPLOYMENT_TARGET"]
        tags += [
            {"Key": "managed_by", "Value": "inference-deployment-tasks"},
            {"Key": "deployment_target", "Value": target},
        ]
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model_id,
                "InstanceType": "ml.m5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        Tags=tags,
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)


def test_delete_unroutes_the_model_and_removes_every_endpoint_it_has(aws):
    register_model(aws, MODEL)
    register_model(aws, "neighbour-model")
    served = run_task(aws, "deploy", MODEL)["metadata"]["endpoint_name"]
    neighbour = run_task(aws, "deploy", "neighbour-model")["metadata"]["endpoint_name"]
    _plant_orphan(aws, MODEL, f"{ENDPOINT_NAME_PREFIX}{MODEL}-01orphanedgreen0000000000000")
    _plant_orphan(aws, MODEL, f"{MODEL}-not-ours", managed=False)

    task = run_task(aws, "delete", MODEL, reason="model deprecated")

    assert task["status"] == "succeeded", task["error"]
    assert read("models", MODEL).status == 404
    assert endpoints_of(aws, MODEL) == {f"{MODEL}-not-ours": "InService"}, "only what this service created goes"
    assert endpoint_configs(aws) == {neighbour, f"{MODEL}-not-ours"}
    assert endpoints_of(aws, "neighbour-model") == {neighbour: "InService"}
    assert read("models", "neighbour-model").body["endpoint_name"] == neighbour
    metadata = task["metadata"]
    assert metadata["removed_endpoint_name"] == served
    assert set(metadata["deleted_resources"]) == {served, f"{ENDPOINT_NAME_PREFIX}{MODEL}-01orphanedgreen0000000000000"}
    assert set(metadata["steps"]) == {"unroute", "delete_endpoints", "endpoints_gone"}
    assert metadata["reason"] == "model deprecated"


def test_the_delete_execution_shows_each_named_step_in_order(aws):
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)

    task = run_task(aws, "delete", MODEL)

    assert executed_states(aws, task["execution_arn"]) == [
        "MarkInProgress",
        "UnrouteModel",
        "DrainTraffic",
        "DeleteEndpoints",
        "IsRemovalDone",
        "WaitForRemoval",
        "CheckEndpointsGone",  # SageMaker still lists the endpoint, Deleting
        "AreEndpointsGone",
        "WaitForRemoval",
        "CheckEndpointsGone",  # gone
        "AreEndpointsGone",
        "MarkSucceeded",
    ]


def test_delete_status_reports_the_latest_removal(aws):
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    task = run_task(aws, "delete", MODEL)

    status = read("delete-status", MODEL)

    assert status.status == 200
    assert status.body["id"] == task["id"]
    assert status.body["status"] == "succeeded"


def test_deleting_a_model_that_is_not_served_is_refused_at_once(aws):
    register_model(aws, MODEL)

    response = request("delete", MODEL)

    assert response.status == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.body["code"] == "model_not_served"
    assert aws.client("dynamodb").scan(TableName=aws.stack.tables["TasksTable"].name)["Count"] == 0


def test_a_model_can_be_deployed_again_after_its_removal(aws):
    register_model(aws, MODEL)
    run_task(aws, "deploy", MODEL)
    run_task(aws, "delete", MODEL)

    again = run_task(aws, "deploy", MODEL)

    assert again["status"] == "succeeded", again["error"]
    assert again["metadata"]["previous_endpoint_name"] is None
    assert read("models", MODEL).body["endpoint_name"] == again["metadata"]["endpoint_name"]


def test_a_failed_removal_routes_the_model_back_to_its_endpoint(aws, faults):
    register_model(aws, MODEL)
    served = run_task(aws, "deploy", MODEL)["metadata"]["endpoint_name"]
    faults.fail("sagemaker", "DeleteEndpoint", "AccessDeniedException")

    task = run_task(aws, "delete", MODEL)

    assert task["status"] == "failed"
    assert task["error"]["code"] == "sagemaker_error"
    assert "AccessDeniedException" in task["error"]["message"]
    assert read("models", MODEL).body["endpoint_name"] == served
    assert endpoints_of(aws, MODEL) == {served: "InService"}
    assert executed_states(aws, task["execution_arn"])[-5:] == [
        "DeleteEndpoints",
        "RestoreRouting",
        "IsRemovalPastReturn",
        "MarkFailed",
        "Failed",
    ]
