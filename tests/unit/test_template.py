"""Static checks of template.yaml and the ASL files: what cfn-lint cannot see inside SAM resources."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml

from inference_deploy.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
STATE_MACHINES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::StateMachine"}
STANDARD_LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
# Actions whose APIs have no resource-level permissions, so "*" is the only valid resource.
RESOURCELESS_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "sagemaker:ListEndpoints",
    "sagemaker:ListEndpointConfigs",
    "dynamodb:ListStreams",  # the stream mapping's; no resource-level permissions
    # Application Auto Scaling's Describe* take no resource (Service Authorization Reference).
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "cloudwatch:GetMetricData",  # a bake's end reads green's metrics; no resource types of its own
}


def _domain_error_names() -> set[str]:
    names, pending = set(), [DomainError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def _statements(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in resource["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            yield from policy["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _asl(name: str) -> dict[str, Any]:
    return json.loads((ROOT / STATE_MACHINES[name]["Properties"]["DefinitionUri"]).read_text())


def _states(asl: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in asl["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"])


def test_every_route_requires_iam_auth():
    api = RESOURCES["Api"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    routes = 0
    for function in FUNCTIONS.values():
        for event in function["Properties"].get("Events", {}).values():
            allowed = {"Api", "EventBridgeRule", "Schedule", "ScheduleV2", "DynamoDB"}
            assert event["Type"] in allowed, "no other way in (no HttpApi, no URL)"
            if event["Type"] != "Api":
                continue
            assert event["Properties"]["RestApiId"] == {"Ref": "Api"}, "every route must live on the IAM-auth API"
            assert "Auth" not in event["Properties"], "no route may override the IAM authorizer"
            routes += 1
    assert routes >= 6


def test_the_contract_routes_are_all_declared():
    declared = {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for f in FUNCTIONS.values()
        for e in f["Properties"].get("Events", {}).values()
        if e["Type"] == "Api"
    }
    base = "/internal/inference-deployment"
    assert {
        ("POST", f"{base}/deploy"),
        ("POST", f"{base}/delete"),
        ("GET", f"{base}/deploy/{{task_id}}"),
        ("GET", f"{base}/delete/{{task_id}}"),
        ("GET", f"{base}/deploy-status/{{embedding_model_id}}"),
        ("GET", f"{base}/delete-status/{{embedding_model_id}}"),
    } <= declared


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_logs_to_a_group_with_retention(name):
    group = FUNCTIONS[name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup"
    assert RESOURCES[group]["Properties"]["RetentionInDays"]


@pytest.mark.parametrize("name", sorted(FUNCTIONS) + sorted(STATE_MACHINES))
def test_policies_name_actions_and_resources_narrowly(name):
    resource = RESOURCES[name]
    for policy in resource["Properties"].get("Policies", []):
        assert isinstance(policy, dict), f"{name}: managed policy {policy!r} is broader than needed"
    for statement in _statements(resource):
        actions = _as_list(statement["Action"])
        for action in actions:
            assert "*" not in action, f"{name}: wildcard action {action}"
        if "*" in _as_list(statement["Resource"]):
            assert set(actions) <= RESOURCELESS_ACTIONS, f"{name}: '*' resource for {actions}"


def test_read_routes_run_with_read_only_permissions():
    for name, function in FUNCTIONS.items():
        methods = {e["Properties"].get("Method", "").upper() for e in function["Properties"].get("Events", {}).values()}
        if methods == {"GET"}:
            for statement in _statements(function):
                for action in _as_list(statement["Action"]):
                    assert action.split(":")[1].startswith(("Get", "Query", "Describe", "List", "BatchGet")), (
                        f"{name} serves only GET routes but may {action}"
                    )


@pytest.mark.parametrize("name", sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::DynamoDB::Table"))
def test_tables_are_encrypted_recoverable_and_on_demand(name):
    properties = RESOURCES[name]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert RESOURCES[name].get("DeletionPolicy") == "Retain"
    assert properties["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectTables", True, False]}
    assert TEMPLATE["Parameters"]["TableDeletionProtection"]["Default"] == "true"


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_asl_substitutions_match_the_template(name):
    text = (ROOT / STATE_MACHINES[name]["Properties"]["DefinitionUri"]).read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    assert placeholders == set(STATE_MACHINES[name]["Properties"]["DefinitionSubstitutions"])


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_state_machines_may_invoke_exactly_the_functions_they_name(name):
    properties = STATE_MACHINES[name]["Properties"]
    named = {v["Fn::GetAtt"][0] for v in properties["DefinitionSubstitutions"].values() if "Fn::GetAtt" in v}
    allowed = {
        resource["Fn::GetAtt"][0]
        for statement in _statements(STATE_MACHINES[name])
        if "lambda:InvokeFunction" in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }
    assert named == allowed


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_asl_transitions_are_closed_and_every_state_is_reachable(name):
    asl = _asl(name)
    states = asl["States"]
    targets = {asl["StartAt"]}
    for state in states.values():
        targets.update(t for t in [state.get("Next"), state.get("Default")] if t)
        targets.update(c["Next"] for c in state.get("Choices", []))
        targets.update(c["Next"] for c in state.get("Catch", []))
        if state["Type"] not in ("Succeed", "Fail") and not state.get("End"):
            assert state.get("Next") or state["Type"] == "Choice"
    assert targets == set(states), f"unreachable: {set(states) - targets}, missing: {targets - set(states)}"


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_every_lambda_task_retries_lambdas_transient_errors(name):
    lambda_tasks = [
        (state_name, state)
        for state_name, state in _states(_asl(name))
        if state["Type"] == "Task" and (state["Resource"].endswith("FunctionArn}") or ":lambda:" in state["Resource"])
    ]
    assert lambda_tasks
    for state_name, state in lambda_tasks:
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert retried >= STANDARD_LAMBDA_ERRORS, state_name


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_every_step_but_the_final_status_write_catches_into_a_failure_path(name):
    for state_name, state in _states(_asl(name)):
        if state["Type"] == "Task" and state_name not in {"MarkSucceeded", "MarkFailed", "MarkCancelled"}:
            catches = state.get("Catch", [])
            if catches and catches[0]["ErrorEquals"] == ["TaskCancelled"]:
                # Cancelled before anything was made ends the task at once; during a bake it rolls back.
                assert catches[0]["Next"] in {"MarkCancelled", "RollBackOnCancel"}, state_name
                catches = catches[1:]
            if state_name == "AwaitBake":  # the bake's wait timing out is its end, not a failure
                assert catches[0] == {
                    "ErrorEquals": ["States.Timeout"],
                    "ResultPath": "$.bake_timeout",
                    "Next": "RetireBlue",
                }
                catches = catches[1:]
            if state_name == "RetireBlue":  # green judged unhealthy, or a bake that cannot be judged or ended,
                # rolls back: never keeps green
                assert catches[:3] == [
                    {
                        "ErrorEquals": ["GreenMetricsBreached"],
                        "ResultPath": "$.failure",
                        "Next": "RollBackOnGreenMetrics",
                    },
                    {
                        "ErrorEquals": ["StoreUnavailable", "CloudWatchUnavailable"],
                        "ResultPath": "$.failure",
                        "Next": "RollBackUnchecked",
                    },
                    # blue retired (and the bake ended): an ending it could not write is MarkSucceeded's
                    {"ErrorEquals": ["TaskNotFinished"], "ResultPath": "$.finish_deferred", "Next": "MarkSucceeded"},
                ]
                catches = catches[3:]
            if state_name == "ProvisionGreen":  # errors only its resolve part raises: nothing made yet
                assert catches[0] == {
                    "ErrorEquals": ["ModelNotFound", "TaskConflict"],
                    "ResultPath": "$.failure",
                    "Next": "MarkFailed",
                }
                catches = catches[1:]
            assert [c["ErrorEquals"] for c in catches] == [["States.ALL"]], state_name


@pytest.mark.parametrize("name", ["DeployStateMachine", "DeleteStateMachine"])
def test_a_cancelled_task_ends_through_mark_cancelled_after_its_compensation(name):
    """TaskCancelled is caught like any failure once something exists to undo; the compensation's end
    (a Choice on the failure) then ends the task cancelled rather than failed."""
    states = dict(_states(_asl(name)))
    assert states["MarkCancelled"]["Parameters"]["status"] == "cancelled"
    assert states["MarkCancelled"]["Next"] == "Cancelled"
    assert states["Cancelled"]["Type"] == "Succeed", "a cancel honoured is not a failed execution (no alarm)"
    choosers = [
        n
        for n, s in states.items()
        if s["Type"] == "Choice" and any(c.get("Next") == "MarkCancelled" for c in s.get("Choices", []))
    ]
    assert choosers == (["IsGreenDiscarded"] if name == "DeployStateMachine" else ["IsRemovalPastReturn"])


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_asl_only_names_errors_that_exist(name):
    known = _domain_error_names()
    for state_name, state in _states(_asl(name)):
        for rule in state.get("Retry", []) + state.get("Catch", []):
            for error in rule["ErrorEquals"]:
                # Sandbox.Timedout: what Lambda reports for a function that timed out (Lambda.Unknown before)
                assert error.startswith(("States.", "Lambda.")) or error in known | {"Sandbox.Timedout"}, (
                    f"{state_name}: {error}"
                )


def test_functions_agree_on_every_shared_variable_name():
    """One process hosts every function in the local stack, so a name means one thing everywhere."""
    seen: dict[str, Any] = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    for name, function in FUNCTIONS.items():
        for key, value in function["Properties"].get("Environment", {}).get("Variables", {}).items():
            assert seen.setdefault(key, value) == value, f"{name} gives {key} another value"
