"""Static checks of the gateway's access policy and of every IAM condition the template relies on (issue 11).

Each test names the condition it guards, so removing or loosening one in template.yaml fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml

from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.ids import new_task_id
from inference_deploy.models.common import utc_now
from inference_deploy.models.serving import ModelOwner, ServedEndpoint, ServingRecord
from inference_deploy.models.task import Task, TaskKind
from inference_deploy.naming import ENDPOINT_NAME_PREFIX, MANAGED_BY, green_endpoint, resource_tags
from local_stack.iam import Request as IamRequest
from local_stack.iam import evaluate, stack_roles
from local_stack.stack import plan_stack
from local_stack.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
STATE_MACHINES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::StateMachine"}
ALARMS = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
QUEUES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::SQS::Queue"}
API = RESOURCES["Api"]["Properties"]
BASE = "/internal/inference-deployment"
CALLERS = {
    "Fn::If": [
        "AccountCallers",
        [{"Fn::Sub": "arn:${AWS::Partition}:*"}],
        {"Ref": "ApiCallerArnPatterns"},
    ]
}
# This account and TrustedAccountIds: the only accounts whose principals the resource policy admits.
ACCOUNTS = {
    "Fn::Split": [
        ",",
        {"Fn::Join": [",", [{"Ref": "AWS::AccountId"}, {"Fn::Join": [",", {"Ref": "TrustedAccountIds"}]}]]},
    ]
}
SAGEMAKER_WRITES = {
    "sagemaker:CreateEndpoint",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:AddTags",
    "sagemaker:InvokeEndpoint",
    "sagemaker:DeleteEndpoint",
    "sagemaker:DeleteEndpointConfig",
    "sagemaker:UpdateEndpointWeightsAndCapacities",
}
ACCOUNT_SAGEMAKER = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}"
ITEM_WRITES = {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
MODEL_ATTRIBUTES = {"embedding_model_id", "active_task", "serving", "unrouted", "pinned_owner"}
# What each function may name in a request on the models table (dynamodb:Attributes), from what it calls.
MODELS_TABLE_ATTRIBUTES = {
    "CreateTaskFunction": {"embedding_model_id", "active_task", "serving", "pinned_owner"},
    "FinishTaskFunction": {"embedding_model_id", "active_task", "serving"},
    "FailUnstartedTasksFunction": {"embedding_model_id", "active_task", "serving"},
    "FinishAbandonedTaskFunction": {"embedding_model_id", "active_task", "serving"},
    "ConvergeModelFunction": {"embedding_model_id", "active_task", "serving", "unrouted"},
    "EndRepairedTaskFunction": {"embedding_model_id", "active_task", "serving"},
    "SwitchTrafficFunction": {"embedding_model_id", "serving"},
    # RetireBlue ends a bake first, and the task last (its slot freed)
    "DeleteEndpointFunction": {"embedding_model_id", "active_task", "serving"},
    "RollBackFunction": {"embedding_model_id", "serving"},
    "UnrouteModelFunction": {"embedding_model_id", "serving", "unrouted"},
    "RestoreRoutingFunction": {"embedding_model_id", "serving", "unrouted"},
}


def _statements(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in resource["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            yield from policy["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _arn_text(resource: Any) -> str:
    return resource["Fn::Sub"] if isinstance(resource, dict) and "Fn::Sub" in resource else json.dumps(resource)


# ---------------------------------------------------------------- the gateway


def test_the_api_admits_only_the_callers_the_parameters_name():
    policy = API["Policy"]["Statement"]
    allow = [s for s in policy if s["Effect"] == "Allow"]
    # The account root as principal delegates to IAM: a caller still needs execute-api:Invoke of its own
    # (Principal "*" would admit every matching principal without one).
    assert allow == [
        {
            "Effect": "Allow",
            "Principal": {
                "AWS": {
                    "Fn::If": [
                        "HasTrustedAccounts",
                        ACCOUNTS,
                        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},
                    ]
                }
            },
            "Action": "execute-api:Invoke",
            "Resource": "execute-api:/*",
        }
    ]
    # Another account's principal is refused whatever its own policies say, unless its account is trusted.
    assert {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*",
        "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNTS}},
    } in policy
    # Same-account principals are admitted by their own IAM policies too: only a Deny limits them.
    assert {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "execute-api:Invoke",
        "Resource": "execute-api:/*",
        "Condition": {"StringNotLike": {"aws:PrincipalArn": CALLERS}},
    } in policy
    assert TEMPLATE["Conditions"]["AccountCallers"] == {
        "Fn::Equals": [{"Fn::Join": ["", {"Ref": "ApiCallerArnPatterns"}]}, ""]
    }
    assert TEMPLATE["Parameters"]["ApiCallerArnPatterns"]["Default"] == ""
    assert API["AlwaysDeploy"] is True, "a changed resource policy takes effect only with a new deployment"


def test_post_delete_and_both_cancels_are_limited_to_the_narrower_delete_callers():
    """Issue 19: a caller kept off POST /delete could still cancel any task (a cancelled deploy discards green)."""
    routes = [
        f"execute-api:/*/POST{BASE}/delete",
        f"execute-api:/*/POST{BASE}/delete/*/cancel",
        f"execute-api:/*/POST{BASE}/deploy/*/cancel",
    ]
    deletes = [s for s in API["Policy"]["Statement"] if f"execute-api:/*/POST{BASE}/delete" in _as_list(s["Resource"])]
    assert deletes == [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "execute-api:Invoke",
            "Resource": routes,
            "Condition": {
                "StringNotLike": {
                    "aws:PrincipalArn": {
                        "Fn::If": ["DeleteCallersAsApiCallers", CALLERS, {"Ref": "ApiDeleteCallerArnPatterns"}]
                    }
                }
            },
        }
    ]
    assert TEMPLATE["Conditions"]["DeleteCallersAsApiCallers"] == {
        "Fn::Equals": [{"Fn::Join": ["", {"Ref": "ApiDeleteCallerArnPatterns"}]}, ""]
    }


def test_every_post_route_is_throttled_below_the_stage_limit():
    posts = {
        e["Properties"]["Path"]
        for f in FUNCTIONS.values()
        for e in f["Properties"].get("Events", {}).values()
        if e["Type"] == "Api" and e["Properties"]["Method"].upper() == "POST"
    }
    assert {f"{BASE}/deploy", f"{BASE}/delete"} <= posts
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in API["MethodSettings"]}
    stage = settings[("/*", "*")]
    parameters = TEMPLATE["Parameters"]
    for path in posts:
        setting = settings[("/" + path.replace("/", "~1"), "POST")]  # MethodSettings write "/" as "~1"
        for limit in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
            parameter = parameters[setting[limit]["Ref"]]
            assert parameter["Default"] < stage[limit], (path, limit)
            assert parameter["MaxValue"] <= stage[limit], (path, limit)


def test_the_access_log_is_kept_and_records_who_called_from_where():
    group = RESOURCES["ApiAccessLogGroup"]
    assert group["DeletionPolicy"] == "Retain"
    assert group["UpdateReplacePolicy"] == "Retain"
    setting = API["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    text = setting["Format"]
    assert "$context.error.messageString" in text, "the quoted form: error messages may contain quotes"
    record = json.loads(re.sub(r"\$context\.[\w.]+", "x", text.replace("$context.error.messageString", '"x"')))
    wanted = {"requestId", "caller", "sourceIp", "userAgent", "requestTime", "errorMessage", "responseLength"}
    assert wanted <= set(record)
    assert '"sourceIp":"$context.identity.sourceIp"' in text
    assert '"userAgent":"$context.identity.userAgent"' in text
    assert '"responseLength":"$context.responseLength"' in text
    assert '"apiId":"$context.apiId"' in text, "ApiThrottledMetricFilter's dimension"


# ---------------------------------------------------------------- SageMaker


def _sagemaker_write_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, function in FUNCTIONS.items():
        for statement in _statements(function):
            if set(_as_list(statement["Action"])) & SAGEMAKER_WRITES:
                yield name, statement


def test_sagemaker_writes_reach_only_endpoints_under_the_service_prefix():
    assert green_endpoint("m", new_task_id(TaskKind.DEPLOY)).endpoint_name.startswith(ENDPOINT_NAME_PREFIX)
    statements = list(_sagemaker_write_statements())
    assert {n for n, _ in statements} >= {"ProvisionGreenFunction", "PrepareGreenFunction", "DeleteEndpointFunction"}
    for name, statement in statements:
        assert set(_as_list(statement["Action"])) <= SAGEMAKER_WRITES, f"{name}: keep writes apart from reads"
        for resource in _as_list(statement["Resource"]):
            arn = _arn_text(resource)
            assert re.search(rf":(endpoint|endpoint-config)/{re.escape(ENDPOINT_NAME_PREFIX)}\*$", arn), (name, arn)


def test_creates_and_tags_carry_only_the_tags_the_service_stamps():
    keys = sorted(resource_tags("m", "deploy-x", "target"))
    creates = [
        (n, s)
        for n, s in _sagemaker_write_statements()
        if set(_as_list(s["Action"]))
        & {"sagemaker:CreateEndpoint", "sagemaker:CreateEndpointConfig", "sagemaker:AddTags"}
    ]
    assert {a for _, s in creates for a in _as_list(s["Action"])} == {
        "sagemaker:CreateEndpoint",
        "sagemaker:CreateEndpointConfig",
        "sagemaker:AddTags",
    }
    for name, statement in creates:
        condition = statement["Condition"]
        assert condition["StringEquals"]["aws:RequestTag/managed_by"] == MANAGED_BY, name
        assert sorted(condition["ForAllValues:StringEquals"]["aws:TagKeys"]) == keys, name


def test_add_tags_is_allowed_only_as_part_of_the_service_creates():
    tagging = [s for _, s in _sagemaker_write_statements() if "sagemaker:AddTags" in _as_list(s["Action"])]
    assert tagging
    for statement in tagging:
        assert _as_list(statement["Action"]) == ["sagemaker:AddTags"]
        assert sorted(statement["Condition"]["StringEquals"]["sagemaker:TaggingAction"]) == [
            "CreateEndpoint",
            "CreateEndpointConfig",
        ]


def test_every_delete_statement_requires_this_stacks_deployment_target():
    """Issue 19: DeleteEndpoint, DiscardGreen and RollBack could delete another stack's `idt-` endpoints."""
    deletes = [
        (n, s)
        for n, s in _sagemaker_write_statements()
        if set(_as_list(s["Action"])) & {"sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig"}
    ]
    assert {n for n, _ in deletes} >= {"DeleteEndpointFunction", "DiscardGreenFunction", "RollBackFunction"}
    for name, statement in deletes:
        target = statement["Condition"]["StringEquals"]["aws:ResourceTag/deployment_target"]
        assert target == {"Ref": "DeploymentTarget"}, name


def test_deletes_also_require_the_service_tag():
    deletes = [
        (n, s)
        for n, s in _sagemaker_write_statements()
        if set(_as_list(s["Action"])) & {"sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig"}
    ]
    assert len(deletes) >= 5
    for name, statement in deletes:
        assert statement["Condition"]["StringEquals"]["aws:ResourceTag/managed_by"] == MANAGED_BY, name


@pytest.mark.parametrize("name", ["SweepModelEndpointsFunction", "ReconcileEndpointsFunction"])
def test_sweeps_and_reconciles_delete_only_this_stacks_endpoints(name):
    """Another stack in the account names its endpoints alike for the same model: only the
    deployment_target tag tells them apart, in the code (its own variable) and in IAM."""
    deletes = [
        s
        for n, s in _sagemaker_write_statements()
        if n == name and set(_as_list(s["Action"])) & {"sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig"}
    ]
    assert deletes, name
    for statement in deletes:
        target = statement["Condition"]["StringEquals"]["aws:ResourceTag/deployment_target"]
        assert target == {"Ref": "DeploymentTarget"}, name
    variables = FUNCTIONS[name]["Properties"]["Environment"]["Variables"]
    assert variables["DEPLOYMENT_TARGET"] == {"Ref": "DeploymentTarget"}, name


def test_green_s_verification_invokes_only_endpoints_under_the_prefix():
    """The smoke test probes green; the compatibility guard probes blue and green: both this service's."""
    invokes = [
        s
        for n, s in _sagemaker_write_statements()
        if n == "PrepareGreenFunction" and "sagemaker:InvokeEndpoint" in _as_list(s["Action"])
    ]
    assert invokes == [
        {
            "Effect": "Allow",
            "Action": ["sagemaker:InvokeEndpoint"],
            "Resource": {"Fn::Sub": f"{ACCOUNT_SAGEMAKER}:endpoint/{ENDPOINT_NAME_PREFIX}*"},
        }
    ]


# ---------------------------------------------------------------- Application Auto Scaling (issue 20)

AUTOSCALING_WRITES = {
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:DeregisterScalableTarget",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:TagResource",
}
SCALABLE_TARGETS = "arn:${AWS::Partition}:application-autoscaling:${AWS::Region}:${AWS::AccountId}:scalable-target/*"


def _autoscaling_write_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, function in FUNCTIONS.items():
        for statement in _statements(function):
            if set(_as_list(statement["Action"])) & AUTOSCALING_WRITES:
                yield name, statement


def test_autoscaling_writes_reach_only_sagemaker_variant_instance_counts_in_the_account():
    statements = list(_autoscaling_write_statements())
    assert {n for n, _ in statements} >= {"PrepareGreenFunction", "DeleteEndpointFunction"}
    for name, statement in statements:
        assert set(_as_list(statement["Action"])) <= AUTOSCALING_WRITES, f"{name}: keep writes apart from reads"
        assert _as_list(statement["Resource"]) == [{"Fn::Sub": SCALABLE_TARGETS}], name
        condition = statement["Condition"]["StringEquals"]
        assert condition["application-autoscaling:service-namespace"] == "sagemaker", name
        assert condition["application-autoscaling:scalable-dimension"] == "sagemaker:variant:DesiredInstanceCount"


def test_targets_are_registered_tagged_as_the_service_and_policies_put_only_on_those():
    keys = sorted(resource_tags("m", "deploy-x", "target"))
    for name, statement in _autoscaling_write_statements():
        actions = set(_as_list(statement["Action"]))
        condition = statement["Condition"]
        if "application-autoscaling:RegisterScalableTarget" in actions:
            assert condition["StringEquals"]["aws:RequestTag/managed_by"] == MANAGED_BY, name
            assert sorted(condition["ForAllValues:StringEquals"]["aws:TagKeys"]) == keys, name
        if "application-autoscaling:PutScalingPolicy" in actions:
            assert condition["StringEquals"]["aws:ResourceTag/managed_by"] == MANAGED_BY, name


def test_every_function_that_deletes_endpoints_may_deregister_their_scaling():
    """SageMaker's DeleteEndpoint of an autoscaled endpoint fails for a caller that may not deregister
    its target (sagemaker/latest/dg/endpoint-delete-with-scaling.html); the code deregisters first."""
    deleters = {n for n, s in _sagemaker_write_statements() if "sagemaker:DeleteEndpoint" in _as_list(s["Action"])}
    deregisterers = {
        n
        for n, s in _autoscaling_write_statements()
        if "application-autoscaling:DeregisterScalableTarget" in _as_list(s["Action"])
    }
    assert len(deleters) >= 5
    assert deleters <= deregisterers


def test_only_sagemakers_autoscaling_service_linked_role_may_be_created():
    statements = [
        (n, s)
        for n, function in FUNCTIONS.items()
        for s in _statements(function)
        if "iam:CreateServiceLinkedRole" in _as_list(s["Action"])
    ]
    assert [n for n, _ in statements] == ["PrepareGreenFunction"]
    statement = statements[0][1]
    assert _as_list(statement["Action"]) == ["iam:CreateServiceLinkedRole"]
    assert _arn_text(statement["Resource"]).endswith(
        "role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
    )
    service = statement["Condition"]["StringLike"]["iam:AWSServiceName"]
    assert service == "sagemaker.application-autoscaling.amazonaws.com"


# ---------------------------------------------------------------- the models table


def _models_table_statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _statements(function) if s["Resource"] == {"Fn::GetAtt": ["ModelsTable", "Arn"]}]


def test_every_writer_of_the_models_table_is_limited_to_its_attributes():
    writers = {
        name
        for name, function in FUNCTIONS.items()
        for statement in _models_table_statements(function)
        if set(_as_list(statement["Action"])) & ITEM_WRITES
    }
    assert writers == set(MODELS_TABLE_ATTRIBUTES)
    for name in writers:
        for statement in _models_table_statements(FUNCTIONS[name]):
            actions = set(_as_list(statement["Action"]))
            assert not actions & {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}, (
                f"{name}: whole-item writes would bypass dynamodb:Attributes"
            )
            condition = statement["Condition"]
            allowed = set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"])
            assert allowed == MODELS_TABLE_ATTRIBUTES[name], name
            assert "embedding_model_id" in allowed, "the key attribute must be listed"
            assert allowed <= MODEL_ATTRIBUTES
            # ALL_OLD / ALL_NEW would return attributes outside the list.
            assert condition["StringEqualsIfExists"]["dynamodb:ReturnValues"] == ["NONE", "UPDATED_OLD", "UPDATED_NEW"]
            assert condition["StringEqualsIfExists"]["dynamodb:Select"] == "SPECIFIC_ATTRIBUTES"


class _Recorder:
    """A DynamoDB client that records each request ModelStore makes and answers like an empty, served table."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def _record(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((operation, request))
        return {}

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self._record("UpdateItem", request)

    def get_item(self, **request: Any) -> dict[str, Any]:
        return self._record("GetItem", request)

    def get_paginator(self, operation: str) -> Any:
        recorder = self

        class _Pages:
            def paginate(self, **request: Any) -> list[dict[str, Any]]:
                recorder._record("Scan", request)
                return []

        return _Pages()


def _attributes(request: dict[str, Any]) -> set[str]:
    """Top-level attribute names a request names: its key and every name in its expressions."""
    names = request.get("ExpressionAttributeNames", {})
    found = set(request.get("Key", {}))
    for field in ("UpdateExpression", "ConditionExpression", "ProjectionExpression", "FilterExpression"):
        text = re.sub(r":\w+", " ", request.get(field, ""))
        for token in re.findall(r"#?[A-Za-z_]\w*(?:\.[#\w]+)*", text):
            top = token.split(".")[0]
            if top.upper() in {"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "IN", "BETWEEN"}:
                continue
            if top in {
                "attribute_exists",
                "attribute_not_exists",
                "attribute_type",
                "begins_with",
                "contains",
                "size",
                "if_not_exists",
            }:
                continue
            found.add(names.get(top, top))
    return found


def _task(kind: TaskKind) -> Task:
    return Task.new(new_task_id(kind), "m", {}, "arn:aws:states:us-east-1:123456789012:execution:x:y")


def _record() -> ServingRecord:
    return ServingRecord(
        embedding_model_id="m",
        endpoint_name="idt-m-x",
        endpoint_config_name="idt-m-x",
        task_id=new_task_id(TaskKind.DEPLOY),
        embedding_dimension=8,
        since=utc_now(),
    )


def _owner() -> ModelOwner:
    return ModelOwner(embedding_model_id="m", team="search", pinned_by="arn:aws:iam::1:role/x", pinned_at=utc_now())


def _previous() -> ServedEndpoint:
    return ServedEndpoint(
        endpoint_name="idt-m-y",
        endpoint_config_name="idt-m-y",
        task_id=new_task_id(TaskKind.DEPLOY),
        embedding_dimension=8,
        since=utc_now(),
    )


# Which ModelStore requests each function makes (read from the logic modules each handler calls).
_CALLS: dict[str, Any] = {
    "CreateTaskFunction": lambda s: [
        s.claim_slot_item(_task(TaskKind.DEPLOY), pin=_owner())["Update"],
        s.claim_slot_item(_task(TaskKind.DELETE), replacing="deploy-x", pin=_owner())["Update"],
        s.owner("m"),
        s.transfer(_owner()),
        s.claim_slot_item(_task(TaskKind.DELETE), replacing="deploy-x")["Update"],
        s.release_slot_item("m", "deploy-x")["Update"],
        s.model_state("m"),
    ],
    "FinishTaskFunction": lambda s: [s.release_slot_item("m", "deploy-x")["Update"], s.release_slot("m", "deploy-x")],
    "FailUnstartedTasksFunction": lambda s: [
        list(s.slot_holders()),
        s.hand_slot_to("m", "deploy-x", "arn:aws:states:us-east-1:1:execution:r:repair-deploy-x"),
        s.release_slot("m", "deploy-x"),
        s.release_slot_item("m", "deploy-x")["Update"],
    ],
    "FinishAbandonedTaskFunction": lambda s: [
        s.active_task("m"),
        s.hand_slot_to("m", "deploy-x", "arn:aws:states:us-east-1:1:execution:r:repair-deploy-x"),
    ],
    "ConvergeModelFunction": lambda s: [
        s.active_task("m"),
        s.serving("m"),
        s.unrouted("m"),
        s.restore(_record()),
        s.end_bake("m", "deploy-x"),
        s.roll_back("m", "deploy-x", _previous()),
    ],
    "EndRepairedTaskFunction": lambda s: [
        s.serving("m"),
        s.release_slot_item("m", "deploy-x")["Update"],
        s.release_slot("m", "deploy-x"),
    ],
    "SwitchTrafficFunction": lambda s: [
        s.switch_item(_record(), expected=_record())["Update"],
        s.switch_item(_record(), expected=None)["Update"],
    ],
    "DeleteEndpointFunction": lambda s: [s.end_bake_item("m", "deploy-x")["Update"]],
    "RollBackFunction": lambda s: [
        s.serving("m"),
        s.end_bake("m", "deploy-x"),
        s.roll_back("m", "deploy-x", _previous()),
    ],
    "UnrouteModelFunction": lambda s: [s.unroute("m"), s.unrouted("m"), s.restore_unrouted("m")],
    "RestoreRoutingFunction": lambda s: [s.restore(_record()), s.restore_unrouted("m")],
}


@pytest.mark.parametrize("name", sorted(MODELS_TABLE_ATTRIBUTES))
def test_what_each_function_asks_of_the_models_table_fits_its_policy(name):
    recorder = _Recorder()
    store = ModelStore("models", client=recorder)  # type: ignore[arg-type]
    transaction_entries = [entry for entry in _CALLS[name](store) if isinstance(entry, dict) and "Key" in entry]
    requests = [request for _, request in recorder.requests] + transaction_entries
    assert requests
    named = set().union(*(_attributes(r) for r in requests))
    assert named <= MODELS_TABLE_ATTRIBUTES[name], f"{name} names {named - MODELS_TABLE_ATTRIBUTES[name]}"
    for request in requests:
        assert request.get("ReturnValues", "NONE") in {"NONE", "UPDATED_OLD", "UPDATED_NEW"}, name
    granted = {a for s in _models_table_statements(FUNCTIONS[name]) for a in _as_list(s["Action"])}
    used = {f"dynamodb:{op}" for op, _ in recorder.requests} | (
        {"dynamodb:UpdateItem"} if transaction_entries else set()
    )
    assert used <= granted, f"{name} calls {used - granted} without permission"


# ---------------------------------------------------------------- state machines, queues, alarms


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_state_machines_may_invoke_exactly_the_function_arns_they_name(name):
    properties = STATE_MACHINES[name]["Properties"]
    named = [v for v in properties["DefinitionSubstitutions"].values() if "Fn::GetAtt" in v]
    assert not [p for p in properties["Policies"] if "LambdaInvokePolicy" in p], "it allows function:<name>*"
    invoke = [s for s in _statements(STATE_MACHINES[name]) if "lambda:InvokeFunction" in _as_list(s["Action"])]
    assert len(invoke) == 1
    assert _as_list(invoke[0]["Action"]) == ["lambda:InvokeFunction"]
    resources = invoke[0]["Resource"]
    assert all(r["Fn::GetAtt"][1] == "Arn" for r in resources), "exact, unqualified function ARNs"
    assert sorted(map(json.dumps, resources)) == sorted(map(json.dumps, {json.dumps(n): n for n in named}.values()))


def test_finish_abandoned_task_failures_land_in_an_alarmed_queue():
    config = FUNCTIONS["FinishAbandonedTaskFunction"]["Properties"]["EventInvokeConfig"]
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FinishAbandonedTaskFailureQueue", "Arn"]}}


def test_no_event_source_makes_sam_generate_an_unencrypted_queue():
    for name, function in FUNCTIONS.items():
        for event in function["Properties"].get("Events", {}).values():
            dead_letter = event["Properties"].get("DeadLetterConfig")
            if dead_letter is not None:
                assert "Type" not in dead_letter, f"{name}: SAM's generated queue is not encrypted"
                queue = dead_letter["Arn"]["Fn::GetAtt"][0]
                assert queue in QUEUES


@pytest.mark.parametrize("name", sorted(QUEUES))
def test_every_queue_is_encrypted_kept_two_weeks_and_alarmed(name):
    properties = QUEUES[name]["Properties"]
    assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties
    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
    depth = [
        a
        for a in ALARMS.values()
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [name, "QueueName"]}}]
    ]
    assert len(depth) == 1
    assert depth[0]["Threshold"] == 1


def test_the_dead_letter_queue_admits_only_the_stack_rules():
    policy = RESOURCES["EventDeliveryDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert policy == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["EventDeliveryDeadLetterQueue", "Arn"]},
            "Condition": {
                "ArnEquals": {
                    "aws:SourceArn": [
                        {"Fn::GetAtt": ["FinishAbandonedTaskFunctionExecutionEnded", "Arn"]},
                        {"Fn::GetAtt": ["ReconcileEndpointsFunctionEvery", "Arn"]},
                        {"Fn::GetAtt": ["ResumeGreenWaitFunctionGreenSettled", "Arn"]},
                        {"Fn::GetAtt": ["ResumeBakeFunctionBakeAlarm", "Arn"]},
                    ]
                }
            },
        }
    ]


def _alarm(namespace: str, metric: str, **dimensions: Any) -> dict[str, Any]:
    found = [
        a
        for a in ALARMS.values()
        if a["Namespace"] == namespace
        and a["MetricName"] == metric
        and {d["Name"]: d["Value"] for d in a["Dimensions"]} == dimensions
    ]
    assert len(found) == 1, (namespace, metric, dimensions)
    return found[0]


def test_alarms_watch_api_errors_throttles_and_executions():
    _alarm("AWS/ApiGateway", "5XXError", ApiName={"Ref": "AWS::StackName"}, Stage={"Ref": "StageName"})
    _alarm("InferenceDeployment", "ApiThrottled", ApiId={"Ref": "Api"})
    for machine in STATE_MACHINES:
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            _alarm("AWS/States", metric, StateMachineArn={"Ref": machine})
    throttled = RESOURCES["ApiThrottledMetricFilter"]["Properties"]
    assert throttled["LogGroupName"] == {"Ref": "ApiAccessLogGroup"}
    assert throttled["FilterPattern"] == '{ $.status = "429" }'
    assert throttled["MetricTransformations"][0]["Dimensions"] == [{"Key": "ApiId", "Value": "$.apiId"}]


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_every_alarm_notifies_the_topic_parameter_when_one_is_given(name):
    actions = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert ALARMS[name]["AlarmActions"] == actions
    assert ALARMS[name]["OKActions"] == actions
    assert ALARMS[name]["TreatMissingData"] == "notBreaching"
    assert TEMPLATE["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    assert TEMPLATE["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_checkov_skip_reasons_say_who_invokes_each_function():
    api_functions = {
        name
        for name, function in FUNCTIONS.items()
        if any(e["Type"] == "Api" for e in function["Properties"].get("Events", {}).values())
    }
    assert {"CreateTaskFunction", "ReadTaskFunction"} <= api_functions
    for name, function in FUNCTIONS.items():
        skips = {s["id"]: s["comment"] for s in function.get("Metadata", {}).get("checkov", {}).get("skip", [])}
        for check in ("CKV_AWS_115", "CKV_AWS_116"):
            if check in skips and name not in api_functions:
                assert "API Gateway" not in skips[check], f"{name} is not invoked by API Gateway"


# ---------------------------------------------------------------- the translated template


SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not SAM_PYTHON.exists() or shutil.which("true") is None:
        pytest.skip("the SAM CLI venv (.tools/sam, `make tools`) is not installed")
    target = tmp_path_factory.mktemp("cfn") / "template.json"
    subprocess.run(
        [str(SAM_PYTHON), "scripts/translate_template.py", "template.yaml", str(target)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return json.loads(target.read_text())["Resources"]


@pytest.mark.slow
def test_the_translation_keeps_the_policy_throttles_and_skips_where_checkov_looks(translated):
    rest_api = translated["Api"]["Properties"]
    assert rest_api["Policy"] == API["Policy"]
    stage = next(r for r in translated.values() if r["Type"] == "AWS::ApiGateway::Stage")
    paths = {(s["ResourcePath"], s["HttpMethod"]) for s in stage["Properties"]["MethodSettings"]}
    assert {(f"/~1internal~1inference-deployment~1{r}", "POST") for r in ("deploy", "delete")} <= paths
    assert stage["Metadata"]["checkov"] == RESOURCES["Api"]["Metadata"]["checkov"], "the Api's skips reach the stage"
    assert not [k for k, r in translated.items() if r["Type"] == "AWS::SQS::Queue" and k not in QUEUES]
    for name in STATE_MACHINES:
        document = json.dumps(translated[f"{name}Role"]["Properties"]["Policies"])
        assert "function:" not in document, f"{name}: the role names function ARNs, not name patterns"


# ---------------------------------------------------------------- scoped to this stack (issue 19), evaluated
# The roles as SAM builds them (inline statements and the managed policies it attaches), resolved for a stack
# named "prod", evaluated by the local stack's IAM evaluator (local_stack/iam.py).

PROD = plan_stack(load_template(ROOT / "template.yaml"), name_prefix="prod-")
ROLES = stack_roles(PROD)
ACCOUNT_ARN = "arn:aws:{service}:us-east-1:123456789012:{resource}"


def _allowed_to(action: str, resource: str, **context: tuple[str, ...]) -> set[str]:
    arn = (
        resource
        if resource.startswith("arn:")
        else ACCOUNT_ARN.format(service=action.split(":", maxsplit=1)[0], resource=resource)
    )
    return {name for name, role in ROLES.items() if evaluate(role, IamRequest(action, arn, context)).allowed}


@pytest.mark.parametrize("action", ["dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"])
def test_only_the_publisher_reads_a_stream_and_only_the_tasks_tables(action):
    """Issue 19: SAM's DynamoDB event attached AWSLambdaDynamoDBExecutionRole (every stream of the account)."""
    other = "arn:aws:dynamodb:us-east-1:123456789012:table/OtherTable/stream/2024-01-01T00:00:00.000"
    assert _allowed_to(action, other) == set()
    assert _allowed_to(action, PROD.get_att("TasksTable", "StreamArn")) == {"PublishTaskEventsFunction"}


@pytest.mark.parametrize("action", ["states:SendTaskSuccess", "states:SendTaskFailure"])
def test_task_tokens_are_completed_only_on_this_stacks_deploy_workflow(action):
    other = "arn:aws:states:us-east-1:123456789012:stateMachine:SomeoneElsesMachine"
    assert _allowed_to(action, other) == set()
    assert _allowed_to(action, PROD.state_machines["DeployStateMachine"].arn) <= {
        "ResumeGreenWaitFunction",
        "CheckGreenFunction",
        "CancelTaskFunction",
        "CheckBakeFunction",  # AwaitBake: an alarm already in ALARM ends the bake's wait at once
        "ResumeBakeFunction",  # a bake's alarm (or its composite) going to ALARM ends it early
    }


@pytest.mark.parametrize(
    "action", ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"]
)
def test_bake_alarms_are_this_stacks_only(action):
    """Issue 19: bake alarms were `inference-deployment-bake-*` in every stack of the account."""
    assert _allowed_to(action, "alarm:inference-deployment-bake-deploy-01ABC-5xx") == set()
    assert _allowed_to(action, "alarm:staging-bake-deploy-01ABC-5xx") == set()
    assert _allowed_to(action, "alarm:prod-bake-deploy-01ABC-5xx"), "this stack's own bake alarms"


def test_callers_alarms_are_described_only_under_the_caller_prefix():
    """Issue 19: DescribeAlarms on alarm:* let the 422 unknown_alarms tell which alarms of other teams exist."""
    assert _allowed_to("cloudwatch:DescribeAlarms", "alarm:checkout-error-rate") == set()
    prefix = PROD.parameters["CallerAlarmPrefix"]
    assert _allowed_to("cloudwatch:DescribeAlarms", f"alarm:{prefix}search-errors") == {
        "CreateTaskFunction",
        "CheckBakeFunction",
        "ResumeBakeFunction",
    }
    assert TEMPLATE["Parameters"]["CallerAlarmPrefix"]["AllowedPattern"] == "^[A-Za-z0-9_.:/-]{1,100}$", (
        "no wildcard, never empty: the prefix is an IAM resource pattern"
    )


def test_another_stacks_endpoints_are_never_deleted():
    tags = {"aws:ResourceTag/managed_by": (MANAGED_BY,), "aws:ResourceTag/deployment_target": ("other-target",)}
    for action in ("sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig"):
        assert _allowed_to(action, "endpoint/idt-model-01abc", **tags) == set()
    own = {**tags, "aws:ResourceTag/deployment_target": (str(PROD.parameters["DeploymentTarget"]),)}
    assert "SweepModelEndpointsFunction" in _allowed_to("sagemaker:DeleteEndpoint", "endpoint/idt-model-01abc", **own)
