"""Capacity parity (issue 20): green starts with blue's instances and blue's autoscaling, on the local stack.

Blue is scaled out the way Application Auto Scaling scales it (UpdateEndpointWeightsAndCapacities), and
its scaling set up through the Application Auto Scaling API, as an operator (or an earlier deploy) would."""

from __future__ import annotations

import time
from typing import Any

import pytest

from inference_deploy.adapters import aws as aws_clients
from local_stack.autoscaling import set_deregister_permission
from tests.component.workflow_helpers import endpoints_of, executed_states, read, request, run_task
from tests.conftest import register_model, wait_for

MODEL = "embed-capacity"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SCALING = {"min_capacity": 2, "max_capacity": 4, "target_invocations_per_instance": 250}
STEP_POLICY = {
    "AdjustmentType": "ChangeInCapacity",
    "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
    "Cooldown": 300,
}


def _target(endpoint: str) -> dict[str, str]:
    return {"ServiceNamespace": "sagemaker", "ResourceId": f"endpoint/{endpoint}/variant/AllTraffic"}


def _scaling(aws: Any, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's scalable target bounds and its policies by name, as Application Auto Scaling lists them."""
    client = aws.client("application-autoscaling")
    target = _target(endpoint)
    found = client.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[target["ResourceId"]], ScalableDimension=DIMENSION
    )["ScalableTargets"]
    if not found:
        return None
    policies = client.describe_scaling_policies(**target, ScalableDimension=DIMENSION)["ScalingPolicies"]
    return {
        "min": found[0]["MinCapacity"],
        "max": found[0]["MaxCapacity"],
        "policies": {
            p["PolicyName"]: p.get("TargetTrackingScalingPolicyConfiguration")
            or p.get("StepScalingPolicyConfiguration")
            for p in policies
        },
    }


def _instances(aws: Any, endpoint: str) -> int:
    variants = aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return sum(v["CurrentInstanceCount"] for v in variants)


def _scale_out(aws: Any, endpoint: str, count: int) -> None:
    """What Application Auto Scaling does to a variant when it scales."""
    aws.client("sagemaker").update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": count}],
    )


def _autoscale_by_hand(aws: Any, endpoint: str) -> None:
    """An operator's set-up on blue: bounds, a target-tracking and a step policy."""
    client = aws.client("application-autoscaling")
    target = {**_target(endpoint), "ScalableDimension": DIMENSION}
    client.register_scalable_target(**target, MinCapacity=3, MaxCapacity=4)
    client.put_scaling_policy(
        **target,
        PolicyName="cpu-target",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "CustomizedMetricSpecification": {
                "MetricName": "CPUUtilization",
                "Namespace": "/aws/sagemaker/Endpoints",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Statistic": "Average",
            },
        },
    )
    client.put_scaling_policy(
        **target, PolicyName="burst", PolicyType="StepScaling", StepScalingPolicyConfiguration=STEP_POLICY
    )


def _blue(aws: Any, **fields: Any) -> dict[str, Any]:
    register_model(aws, MODEL)
    task = run_task(aws, "deploy", MODEL, **fields)
    assert task["status"] == "succeeded", task["error"]
    return task


def _tasks_and_executions(aws: Any) -> tuple[int, int]:
    table = aws.stack.tables["TasksTable"].name
    tasks = aws.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"]
    sfn = aws.client("stepfunctions")
    machine = aws.stack.state_machines["DeployStateMachine"].arn
    return tasks, len(sfn.list_executions(stateMachineArn=machine)["executions"])


def test_a_redeploy_of_a_scaled_out_blue_starts_green_at_blues_count_with_blues_scaling(aws):
    blue = _blue(aws)["metadata"]["endpoint_name"]
    _scale_out(aws, blue, 3)
    _autoscale_by_hand(aws, blue)
    blue_scaling = _scaling(aws, blue)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    green = task["metadata"]["endpoint_name"]
    assert _instances(aws, green) == 3
    assert _scaling(aws, green) == blue_scaling
    assert blue_scaling["policies"].keys() == {"cpu-target", "burst"}
    assert _scaling(aws, blue) is None, "blue's scalable target is deregistered when blue is retired"
    assert endpoints_of(aws, MODEL) == {green: "InService"}
    capacity = task["metadata"]["capacity"]
    assert capacity["instance_count"] == 3
    assert capacity["source"] == "blue"
    assert capacity["autoscaling_source"] == "blue"
    assert (capacity["autoscaling"]["min_capacity"], capacity["autoscaling"]["max_capacity"]) == (3, 4)
    assert [p["policy_name"] for p in capacity["autoscaling"]["policies"]] == ["cpu-target", "burst"]
    served = read("models", MODEL).body
    assert served["endpoint_name"] == green
    assert served["capacity"] == capacity
    states = executed_states(aws, task["execution_arn"])
    assert states.index("AwaitGreen") < states.index("PrepareGreen") < states.index("SwitchTraffic")


def test_blue_scaled_past_the_stacks_maximum_gives_green_the_maximum(aws):
    blue = _blue(aws)["metadata"]["endpoint_name"]
    _scale_out(aws, blue, 6)  # MaxInstanceCount is 4: an operator scaled blue past what the stack allows

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    assert _instances(aws, task["metadata"]["endpoint_name"]) == 4
    capacity = task["metadata"]["capacity"]
    assert (capacity["instance_count"], capacity["source"]) == (4, "blue")
    assert capacity.get("autoscaling") is None, "blue had no scaling to copy"


def test_a_named_count_below_blues_is_refused_unless_the_drop_is_allowed(aws):
    blue = _blue(aws)["metadata"]["endpoint_name"]
    _scale_out(aws, blue, 3)
    before = _tasks_and_executions(aws)

    refused = request("deploy", MODEL, initial_instance_count=2)

    assert refused.status == 422, refused.body
    assert refused.body["code"] == "capacity_drop"
    assert refused.body["blue_instance_count"] == 3
    assert refused.body["errors"][0]["location"] == "body.initial_instance_count"
    assert _tasks_and_executions(aws) == before, "a refused deploy writes and starts nothing"

    allowed = run_task(aws, "deploy", MODEL, initial_instance_count=2, allow_capacity_drop=True)

    assert allowed["status"] == "succeeded", allowed["error"]
    assert _instances(aws, allowed["metadata"]["endpoint_name"]) == 2
    assert allowed["metadata"]["capacity"]["source"] == "request"
    assert allowed["metadata"]["capacity"]["instance_count"] == 2


def test_a_named_count_at_or_above_blues_needs_no_permission(aws):
    blue = _blue(aws)["metadata"]["endpoint_name"]
    _scale_out(aws, blue, 2)

    task = run_task(aws, "deploy", MODEL, initial_instance_count=3)

    assert task["status"] == "succeeded", task["error"]
    assert _instances(aws, task["metadata"]["endpoint_name"]) == 3


def test_autoscaling_set_by_a_request_applies_to_green_and_to_the_models_next_deploys(aws):
    first = _blue(aws, autoscaling=SCALING)
    green = first["metadata"]["endpoint_name"]
    expected_policy = {
        "TargetValue": 250.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
    }
    assert _scaling(aws, green) == {"min": 2, "max": 4, "policies": {"invocations-per-instance": expected_policy}}
    assert first["metadata"]["capacity"]["autoscaling_source"] == "request"
    assert read("models", MODEL).body["capacity"]["autoscaling"]["max_capacity"] == 4

    second = run_task(aws, "deploy", MODEL)

    assert second["status"] == "succeeded", second["error"]
    assert _scaling(aws, second["metadata"]["endpoint_name"]) == _scaling_of_request(expected_policy)
    assert second["metadata"]["capacity"]["autoscaling_source"] == "blue"
    assert _scaling(aws, green) is None


def _scaling_of_request(policy: dict[str, Any]) -> dict[str, Any]:
    return {"min": 2, "max": 4, "policies": {"invocations-per-instance": policy}}


@pytest.mark.parametrize(
    ("autoscaling", "status", "code", "location"),
    [
        ({**SCALING, "max_capacity": 5}, 422, "cost_limit_exceeded", "body.autoscaling.max_capacity"),
        ({**SCALING, "min_capacity": 4, "max_capacity": 3}, 422, "validation_error", "body.autoscaling"),
        ({**SCALING, "min_capacity": 0}, 422, "validation_error", "body.autoscaling.min_capacity"),
        ({**SCALING, "target_invocations_per_instance": 0}, 422, "validation_error", None),
        ({**SCALING, "cooldown": 5}, 422, "validation_error", None),
        ({"min_capacity": "2", "max_capacity": 4, "target_invocations_per_instance": 9}, 422, "validation_error", None),
    ],
)
def test_autoscaling_out_of_bounds_is_refused_and_writes_nothing(aws, autoscaling, status, code, location):
    register_model(aws, MODEL)

    response = request("deploy", MODEL, autoscaling=autoscaling)

    assert response.status == status, response.body
    assert response.body["code"] == code
    if location is not None:
        assert location in [e["location"] for e in response.body["errors"]]
    assert _tasks_and_executions(aws) == (0, 0)


def test_deleting_an_autoscaled_model_deregisters_its_scaling_then_deletes_the_endpoint(aws):
    green = _blue(aws, autoscaling=SCALING)["metadata"]["endpoint_name"]
    calls = _record_calls()

    task = run_task(aws, "delete", MODEL)

    assert task["status"] == "succeeded", task["error"]
    assert endpoints_of(aws, MODEL) == {}
    assert _scaling(aws, green) is None
    assert calls.index("DeregisterScalableTarget") < calls.index("DeleteEndpoint")


def _record_calls() -> list[str]:
    """Every call the service's own clients make to SageMaker and Application Auto Scaling, in order."""
    calls: list[str] = []
    for client in (aws_clients.sagemaker(), aws_clients.application_autoscaling()):
        client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    return calls


def test_a_throttled_register_is_retried_and_the_deploy_goes_on(aws, faults):
    blue = _blue(aws)["metadata"]["endpoint_name"]
    _autoscale_by_hand(aws, blue)
    faults.fail("application-autoscaling", "RegisterScalableTarget", "ThrottlingException", times=2)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    assert faults.calls["RegisterScalableTarget"] == 3
    green = task["metadata"]["endpoint_name"]
    assert _scaling(aws, green)["min"] == 3
    assert endpoints_of(aws, MODEL) == {green: "InService"}
    assert _scaling(aws, blue) is None


def test_a_throttled_deregistration_when_blue_is_retired_is_retried_and_blue_goes(aws, faults):
    blue = _blue(aws, autoscaling=SCALING)["metadata"]["endpoint_name"]
    faults.fail("application-autoscaling", "DeregisterScalableTarget", "ThrottlingException", times=2)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    assert "retire_blue_error" not in task["metadata"]
    green = task["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {green: "InService"}
    assert _scaling(aws, blue) is None
    assert _scaling(aws, green) is not None


def test_scaling_that_cannot_be_copied_discards_green_and_leaves_blue_and_its_scaling_serving(aws, faults):
    blue = _blue(aws)["metadata"]["endpoint_name"]
    _autoscale_by_hand(aws, blue)
    blue_scaling = _scaling(aws, blue)
    faults.fail("application-autoscaling", "PutScalingPolicy", "AccessDeniedException")

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "failed"
    assert task["error"]["code"] == "autoscaling_error"
    assert task["metadata"]["green_discarded"] is True
    assert endpoints_of(aws, MODEL) == {blue: "InService"}
    assert _scaling(aws, task["metadata"]["endpoint_name"]) is None, "green's half-copied target is deregistered"
    assert _scaling(aws, blue) == blue_scaling
    assert read("models", MODEL).body["endpoint_name"] == blue


# ---------------------------------------------------------------- the emulator, as strict as AWS


def test_delete_endpoint_deregisters_a_target_only_for_a_caller_allowed_to(aws):
    green = _blue(aws, autoscaling=SCALING)["metadata"]["endpoint_name"]
    sagemaker = aws.client("sagemaker")
    remove = set_deregister_permission(lambda: False)
    try:
        with pytest.raises(sagemaker.exceptions.ClientError) as refused:
            sagemaker.delete_endpoint(EndpointName=green)
    finally:
        remove()
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert _scaling(aws, green) is not None

    sagemaker.delete_endpoint(EndpointName=green)

    assert _scaling(aws, green) is None


def test_update_endpoint_weights_and_capacities_is_refused_unless_in_service(aws):
    register_model(aws, MODEL, creating_polls=1000)
    created = request("deploy", MODEL)
    green = created.body["metadata"]["endpoint_name"]
    sagemaker = aws.client("sagemaker")
    deadline = time.monotonic() + 30  # green exists and is Creating: not a name nothing was made under yet
    while endpoints_of(aws, MODEL).get(green) != "Creating":
        assert time.monotonic() < deadline, "green never showed Creating"
        time.sleep(0.05)

    with pytest.raises(sagemaker.exceptions.ClientError) as refused:
        _scale_out(aws, green, 2)

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    aws.client("stepfunctions").stop_execution(executionArn=created.body["execution_arn"])
    wait_for(aws, created.body["execution_arn"])


def test_deregistering_what_is_not_registered_is_object_not_found(aws):
    client = aws.client("application-autoscaling")
    with pytest.raises(client.exceptions.ObjectNotFoundException):
        client.deregister_scalable_target(**_target("idt-nothing"), ScalableDimension=DIMENSION)


def test_registering_a_variant_that_does_not_exist_or_inverted_bounds_is_refused(aws):
    client = aws.client("application-autoscaling")
    with pytest.raises(client.exceptions.ValidationException):
        client.register_scalable_target(
            **_target("idt-nothing"), ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=2
        )
    assert client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_a_policy_on_a_target_that_is_not_registered_is_object_not_found(aws):
    client = aws.client("application-autoscaling")
    with pytest.raises(client.exceptions.ObjectNotFoundException):
        client.put_scaling_policy(
            PolicyName="steps",
            **_target("idt-nothing"),
            ScalableDimension=DIMENSION,
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration=STEP_POLICY,
        )
