"""What the functions' IAM policies allow, as the local stack enforces them (local_stack/iam.py, issue 19).

A call a function's role does not allow fails as in AWS (AccessDenied), and the workflow ends as it would
in an account; a deploy may name only the alarms callers may name, and is told nothing about the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml

from inference_deploy.naming import bake_alarm_prefix
from local_stack.emulator import EmulatedAws
from local_stack.iam import RECORDER
from local_stack.run_config import create_sample_caller
from tests.component.workflow_helpers import caller_alarm, endpoints_of, read, request, run_task
from tests.conftest import ROOT, TEMPLATE, TEST_PARAMETERS, put_alarm, register_model

MODEL = "embed-scoped-access"


def _without_grant(tmp_path: Path, function: str, action: str) -> Path:
    """template.yaml with `action` taken out of every statement of `function`'s policies."""
    template: dict[str, Any] = load_yaml(TEMPLATE)
    for policy in template["Resources"][function]["Properties"]["Policies"]:
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [granted for granted in actions if granted != action]
        policy["Statement"] = [statement for statement in policy["Statement"] if statement["Action"]]
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    return path


@pytest.fixture
def aws_without_sweep_describe(tmp_path: Path):
    """The stack as main had it before the sweep was granted sagemaker:DescribeEndpoint."""
    template = _without_grant(tmp_path, "SweepModelEndpointsFunction", "sagemaker:DescribeEndpoint")
    with EmulatedAws(template, parameters=TEST_PARAMETERS, project_root=ROOT) as emulated:
        from inference_deploy import dependencies  # noqa: PLC0415 - reset with the emulator, as the `aws` fixture does

        create_sample_caller(emulated.client("iam"), emulated.stack.account_id)  # the admin the sample events name

        dependencies.reset()
        yield emulated
    dependencies.reset()


def test_a_call_the_role_does_not_allow_fails_the_workflow_as_in_aws(aws_without_sweep_describe):
    aws = aws_without_sweep_describe
    register_model(aws, MODEL)
    served = run_task(aws, "deploy", MODEL)
    assert served["status"] == "succeeded"
    endpoint = served["metadata"]["endpoint_name"]

    deleted = run_task(aws, "delete", MODEL)

    assert deleted["status"] == "failed", deleted
    assert "AccessDenied" in json.dumps(deleted["error"]), deleted["error"]
    assert endpoints_of(aws, MODEL) == {endpoint: "InService"}, "the model stays deployed (and billed)"
    assert read("models", MODEL).body["endpoint_name"] == endpoint, "and routed back"


def test_the_denial_names_the_role_session_action_and_resource(aws_without_sweep_describe):
    aws = aws_without_sweep_describe
    register_model(aws, MODEL)
    assert run_task(aws, "deploy", MODEL)["status"] == "succeeded"
    from inference_deploy.adapters import aws as clients  # noqa: PLC0415
    from local_stack.lambdas import running_as  # noqa: PLC0415

    sagemaker = clients.sagemaker()
    with running_as("SweepModelEndpointsFunction"), pytest.raises(sagemaker.exceptions.ClientError) as denied:
        sagemaker.describe_endpoint(EndpointName="Idt-Some-Endpoint")

    error = denied.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/SweepModelEndpointsFunctionRole/SweepModelEndpointsFunction"
        " is not authorized to perform: sagemaker:DescribeEndpoint on resource:"
        " arn:aws:sagemaker:us-east-1:123456789012:endpoint/idt-some-endpoint"
        " because no identity-based policy allows the sagemaker:DescribeEndpoint action"
    )


def _granting(function: str, action: str) -> set[str]:
    """The labels (`<function>RolePolicy<i>#<j>`) of the template's statements that name `action` for `function`."""
    template: dict[str, Any] = load_yaml(TEMPLATE)
    return {
        f"{function}RolePolicy{i}#{j}"
        for i, policy in enumerate(template["Resources"][function]["Properties"]["Policies"])
        for j, statement in enumerate(policy["Statement"])
        if action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    }


def test_every_call_of_a_deploy_is_recorded_with_the_statement_that_allowed_it(aws):
    register_model(aws, MODEL)
    assert run_task(aws, "deploy", MODEL, bake_seconds=1)["status"] == "succeeded"

    report = RECORDER.as_json()
    create = {(c["action"], c["allowed_by"]) for c in report["CreateTaskFunction"]}
    for action in ("dynamodb:PutItem", "states:StartExecution"):
        assert {(action, label) for label in _granting("CreateTaskFunction", action)} & create, action
    provision = {c["action"] for c in report["ProvisionGreenFunction"]}
    assert {"sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:AddTags"} <= provision
    bake_alarms = [c for c in report["SwitchTrafficFunction"] if c["action"] == "cloudwatch:PutMetricAlarm"]
    assert bake_alarms
    assert all(f":alarm:{bake_alarm_prefix()}" in c["resource"] for c in bake_alarms)


@pytest.mark.parametrize("exists", [True, False])
def test_an_alarm_outside_the_caller_prefix_is_refused_without_saying_whether_it_exists(aws, exists):
    register_model(aws, MODEL)
    own = caller_alarm(aws, "search-errors")
    other = "other-team-checkout-errors"
    if exists:
        put_alarm(aws.client("cloudwatch"), other, "Checkout")

    refused = request("deploy", MODEL, bake_seconds=60, rollback_alarms=[own, other])

    assert refused.status == 422
    assert refused.body["code"] == "alarms_not_allowed"
    assert refused.body["alarms_not_allowed"] == [other]
    assert refused.body["alarm_prefix"] == aws.stack.parameters["CallerAlarmPrefix"]
    assert "exist" not in refused.body["detail"]
    assert read("deploy-status", MODEL).status == 404, "nothing written"
