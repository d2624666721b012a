"""The local IAM evaluator (local_stack/iam.py) against AWS's documented policy evaluation behaviour.

Sources: IAM User Guide "Policy evaluation logic" (explicit deny wins, else an allow, else implicit deny),
"IAM JSON policy elements: Condition operators" (IfExists, Null, negated operators on a missing key),
"Single-valued vs. multivalued context keys" (ForAllValues / ForAnyValue on missing keys), "NotAction",
the DynamoDB developer guide's fine-grained access control example (dynamodb:Attributes with
StringEqualsIfExists dynamodb:Select), and SageMaker's lower-cased resource names in ARNs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml

from local_stack.emulator import EmulatedAws
from local_stack.iam import (
    Account,
    Decision,
    Request,
    ResourceLookup,
    Statement,
    arn_matches,
    authorizations,
    denial_message,
    evaluate,
    expression_attributes,
    policy_statements,
    role_statements,
)

ACCOUNT = Account("aws", "us-east-1", "123456789012")
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/GameScores"


def policy(*statements: dict[str, Any]) -> list[Statement]:
    return policy_statements("Test", {"Statement": list(statements)})


def allowed(statements: list[Statement], action: str, resource: str = "*", **context: Any) -> bool:
    values = {key.replace("__", ":").replace("_slash_", "/"): _tuple(v) for key, v in context.items()}
    return evaluate(statements, Request(action, resource, values)).allowed


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


class _NoResources(ResourceLookup):
    def __init__(self, tags: dict[str, str] | None = None) -> None:
        super().__init__(ACCOUNT, {"GameScores": "UserId"})
        self._tags = tags

    def sagemaker_tags(self, kind: str, name: str) -> dict[str, str] | None:
        return self._tags


def test_an_explicit_deny_overrides_any_allow():
    statements = policy(
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": TABLE_ARN},
    )
    assert allowed(statements, "dynamodb:GetItem", TABLE_ARN)
    decision = evaluate(statements, Request("dynamodb:DeleteItem", TABLE_ARN))
    assert not decision.allowed
    assert decision.explicit_deny


def test_nothing_allowed_is_an_implicit_deny():
    decision = evaluate(
        policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}), Request("s3:PutObject", "*")
    )
    assert decision == Decision(allowed=False)


def test_actions_match_case_insensitively_with_wildcards():
    statements = policy({"Effect": "Allow", "Action": ["sagemaker:Describe*", "states:Send?ask*"], "Resource": "*"})
    assert allowed(statements, "sagemaker:describeendpoint")
    assert allowed(statements, "states:SendTaskFailure")
    assert not allowed(statements, "sagemaker:DeleteEndpoint")


def test_not_action_allows_everything_but_the_listed_actions():
    statements = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert allowed(statements, "s3:ListBucket")
    assert not allowed(statements, "iam:CreateUser")


def test_not_resource_allows_everything_but_the_listed_resources():
    statements = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "NotResource": TABLE_ARN})
    assert allowed(statements, "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/Other")
    assert not allowed(statements, "dynamodb:GetItem", TABLE_ARN)


def test_a_wildcard_in_one_arn_segment_does_not_reach_into_another():
    assert arn_matches("arn:aws:iam::*:role/ml-*", "arn:aws:iam::123456789012:role/ml-x")
    assert not arn_matches("arn:aws:iam::1234*:role/x", "arn:aws:iam::123456789012:user/role/x")
    # Inside the resource segment a wildcard matches `/` and `:` too, as in IAM.
    assert arn_matches("arn:aws:states:us-east-1:1:execution:Deploy:*", "arn:aws:states:us-east-1:1:execution:Deploy:a")
    assert arn_matches("*", "arn:aws:s3:::anything")
    assert not arn_matches("arn:aws:dynamodb:us-east-1:1:table/T", "arn:aws:dynamodb:us-east-1:1:table/T/index/I")


def test_several_values_of_one_key_are_ored_and_several_keys_anded():
    statements = policy(
        {
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestTag/team": ["a", "b"], "aws:RequestTag/env": "prod"}},
        }
    )
    assert allowed(statements, "ec2:RunInstances", aws__RequestTag_slash_team="b", aws__RequestTag_slash_env="prod")
    assert not allowed(statements, "ec2:RunInstances", aws__RequestTag_slash_team="b", aws__RequestTag_slash_env="dev")
    assert not allowed(statements, "ec2:RunInstances", aws__RequestTag_slash_env="prod")  # missing key: false


def test_a_negated_operator_holds_on_a_missing_key_and_if_exists_holds_too():
    negated = policy(
        {
            "Effect": "Allow",
            "Action": "x:Y",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:ResourceTag/a": "b"}},
        }
    )
    assert allowed(negated, "x:Y")
    assert not allowed(negated, "x:Y", aws__ResourceTag_slash_a="b")
    if_exists = policy(
        {"Effect": "Allow", "Action": "x:Y", "Resource": "*", "Condition": {"StringEqualsIfExists": {"k:v": "1"}}}
    )
    assert allowed(if_exists, "x:Y")
    assert allowed(if_exists, "x:Y", k__v="1")
    assert not allowed(if_exists, "x:Y", k__v="2")


def test_set_operators_on_missing_and_present_keys():
    all_values = policy(
        {
            "Effect": "Allow",
            "Action": "x:Y",
            "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
        }
    )
    assert allowed(all_values, "x:Y")  # no tags at all: ForAllValues holds
    assert allowed(all_values, "x:Y", aws__TagKeys=["a"])
    assert not allowed(all_values, "x:Y", aws__TagKeys=["a", "c"])
    any_value = policy(
        {
            "Effect": "Allow",
            "Action": "x:Y",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}},
        }
    )
    assert not allowed(any_value, "x:Y")  # missing: ForAnyValue does not hold
    assert allowed(any_value, "x:Y", aws__TagKeys=["c", "a"])


def test_null_checks_whether_the_key_is_present():
    present = policy({"Effect": "Allow", "Action": "x:Y", "Resource": "*", "Condition": {"Null": {"k:v": "false"}}})
    assert allowed(present, "x:Y", k__v="1")
    assert not allowed(present, "x:Y")


def test_string_like_and_arn_like():
    statements = policy(
        {
            "Effect": "Allow",
            "Action": "x:Y",
            "Resource": "*",
            "Condition": {
                "StringLike": {"k:name": "idt-*"},
                "ArnLike": {"aws:SourceArn": "arn:aws:states:*:*:stateMachine:D*"},
            },
        }
    )
    assert allowed(statements, "x:Y", k__name="idt-1", aws__SourceArn="arn:aws:states:us-east-1:1:stateMachine:Deploy")
    assert not allowed(statements, "x:Y", k__name="other", aws__SourceArn="arn:aws:states:us-east-1:1:stateMachine:D")


def test_dynamodb_attribute_policy_of_the_developer_guide():
    statements = policy(
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            "Resource": TABLE_ARN,
            "Condition": {
                "ForAllValues:StringEquals": {"dynamodb:Attributes": ["UserId", "TopScore"]},
                "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES", "dynamodb:ReturnValues": ["NONE"]},
            },
        }
    )
    lookup = _NoResources()
    key = {"UserId": {"S": "u1"}}

    def decide(operation: str, **params: Any) -> bool:
        requests = authorizations(lookup, "dynamodb", operation, {"TableName": "GameScores", "Key": key, **params})
        return all(evaluate(statements, request).allowed for request in requests)

    assert decide("GetItem", ProjectionExpression="TopScore")
    assert not decide("GetItem")  # all attributes: Select is ALL_ATTRIBUTES
    assert not decide("GetItem", ProjectionExpression="Wins")
    assert decide("UpdateItem", UpdateExpression="SET #t = :t", ExpressionAttributeNames={"#t": "TopScore"})
    assert not decide("UpdateItem", UpdateExpression="SET Wins = :w")
    assert not decide("UpdateItem", UpdateExpression="SET TopScore = :t", ReturnValues="ALL_OLD")


def test_expression_attributes_are_the_top_level_names():
    names = {"#s": "serving", "#p": "progress"}
    expression = "SET #s.endpoint = :e, #p.#s[0] = :x REMOVE unrouted ADD n :one"
    assert expression_attributes(expression, names) == {"serving", "progress", "unrouted", "n"}
    condition = "attribute_exists(active_task) AND NOT begins_with(#s, :p) OR size(lst) > :n"
    assert expression_attributes(condition, names) == {"active_task", "serving", "lst"}


def test_a_transaction_is_authorized_entry_by_entry():
    requests = authorizations(
        _NoResources(),
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "Tasks", "Item": {"id": {"S": "1"}}}},
                {"Update": {"TableName": "Models", "Key": {"id": {"S": "m"}}, "UpdateExpression": "SET a = :a"}},
                {"ConditionCheck": {"TableName": "Tasks", "Key": {"id": {"S": "2"}}, "ConditionExpression": "b = :b"}},
            ]
        },
    )
    assert [(r.action, r.resource.rsplit("/", 1)[1]) for r in requests] == [
        ("dynamodb:PutItem", "Tasks"),
        ("dynamodb:UpdateItem", "Models"),
        ("dynamodb:ConditionCheckItem", "Tasks"),
    ]


def test_sagemaker_names_are_lower_cased_in_arns_and_resource_tags_come_from_the_resource():
    lookup = _NoResources(tags={"managed_by": "svc"})
    [request] = authorizations(lookup, "sagemaker", "DeleteEndpoint", {"EndpointName": "IDT-Model-X"})
    assert request.resource == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/idt-model-x"
    assert request.context["aws:ResourceTag/managed_by"] == ("svc",)
    assert request.context["sagemaker:ResourceTag/managed_by"] == ("svc",)


def test_create_endpoint_is_authorized_on_endpoint_config_and_its_tags():
    lookup = _NoResources(tags={"managed_by": "svc"})
    params = {"EndpointName": "e", "EndpointConfigName": "c", "Tags": [{"Key": "managed_by", "Value": "svc"}]}
    requests = authorizations(lookup, "sagemaker", "CreateEndpoint", params)
    assert [(r.action, r.resource.rsplit(":", 1)[1]) for r in requests] == [
        ("sagemaker:CreateEndpoint", "endpoint/e"),
        ("sagemaker:AddTags", "endpoint/e"),
        ("sagemaker:CreateEndpoint", "endpoint-config/c"),
    ]
    assert requests[1].context["sagemaker:TaggingAction"] == ("CreateEndpoint",)
    assert requests[0].context["aws:TagKeys"] == ("managed_by",)


def test_create_endpoint_config_carries_its_instance_types():
    params = {
        "EndpointConfigName": "c",
        "ProductionVariants": [{"InstanceType": "ml.g5.xlarge"}, {"InstanceType": "ml.m5.large"}],
    }
    [request] = authorizations(_NoResources(), "sagemaker", "CreateEndpointConfig", params)
    assert request.context["sagemaker:InstanceTypes"] == ("ml.g5.xlarge", "ml.m5.large")


def test_the_denial_message_is_the_one_aws_writes():
    request = Request("dynamodb:PutItem", TABLE_ARN)
    principal = "arn:aws:sts::123456789012:assumed-role/FnRole/fn"
    assert denial_message(principal, request, Decision(allowed=False)) == (
        f"User: {principal} is not authorized to perform: dynamodb:PutItem on resource: {TABLE_ARN} "
        "because no identity-based policy allows the dynamodb:PutItem action"
    )
    deny = policy({"Effect": "Deny", "Action": "*", "Resource": "*"})[0]
    assert "with an explicit deny in an identity-based policy" in denial_message(
        principal, request, Decision(allowed=False, statement=deny)
    )


def test_a_stream_event_makes_sam_attach_the_account_wide_stream_policy():
    statements = role_statements("Fn", {"Events": {"Changed": {"Type": "DynamoDB", "Properties": {}}}})
    assert allowed(statements, "dynamodb:GetRecords", "arn:aws:dynamodb:us-east-1:1:table/Any/stream/x")


@pytest.mark.parametrize(
    "policy_entry", [{"DynamoDBCrudPolicy": {"TableName": "T"}}, "arn:aws:iam::aws:policy/Unknown"]
)
def test_policies_the_evaluator_cannot_read_fail_loudly(policy_entry):
    with pytest.raises(ValueError, match="not"):
        role_statements("Fn", {"Policies": [policy_entry]})


def test_a_state_machine_whose_role_may_not_invoke_its_function_fails_its_task(tmp_path):
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "local_stack"
    template: dict[str, Any] = load_yaml(fixture / "template.yaml")
    del template["Resources"]["PipelineStateMachine"]["Properties"]["Policies"]
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))

    with EmulatedAws(path, project_root=fixture) as aws:
        ended = aws.run_execution("PipelineStateMachine", {"key": "denied", "action": "ok"})

    assert ended["status"] == "FAILED"
    assert ended["error"] == "Lambda.AccessDeniedException"
    assert ended["cause"].startswith(
        "User: arn:aws:sts::123456789012:assumed-role/PipelineStateMachineRole/PipelineStateMachine is not "
        "authorized to perform: lambda:InvokeFunction on resource: "
        "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction because no identity-based policy allows"
    )
