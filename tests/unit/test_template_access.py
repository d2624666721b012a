"""Static checks of the template's per-model authorization and cost guards (issue 11)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.decode.cfn_yaml import load as load_yaml

from inference_deploy.models.settings import AuthorizationSettings, CreateTaskSettings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
ACCOUNT_ARN = "arn:${AWS::Partition}:iam::${AWS::AccountId}"


def _statements(logical_id: str) -> list[dict[str, Any]]:
    policies = RESOURCES[logical_id]["Properties"].get("Policies", [])
    return [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return set(actions if isinstance(actions, list) else [actions])


def _granting(logical_id: str, action: str) -> list[dict[str, Any]]:
    return [s for s in _statements(logical_id) if s["Effect"] == "Allow" and action in _actions(s)]


def test_create_endpoint_config_is_allowed_only_for_the_allowed_instance_types():
    (statement,) = _granting("ProvisionGreenFunction", "sagemaker:CreateEndpointConfig")
    condition = statement["Condition"]

    # Every variant's type must be in the list, and a config naming none (where ForAllValues holds
    # vacuously) is refused by the Null check.
    assert condition["ForAllValues:StringEquals"]["sagemaker:InstanceTypes"] == {"Ref": "AllowedInstanceTypes"}
    assert condition["Null"] == {"sagemaker:InstanceTypes": "false"}
    assert condition["StringEquals"] == {"aws:RequestTag/managed_by": "inference-deployment-tasks"}
    assert _actions(statement) == {"sagemaker:CreateEndpointConfig"}


def test_the_default_instance_type_and_count_are_within_the_limits():
    allowed = PARAMETERS["AllowedInstanceTypes"]["Default"].split(",")

    assert PARAMETERS["AllowedInstanceTypes"]["Type"] == "CommaDelimitedList"
    assert PARAMETERS["DefaultInstanceType"]["Default"] in allowed
    assert PARAMETERS["DefaultInstanceCount"]["Default"] <= PARAMETERS["MaxInstanceCount"]["Default"]
    assert all(t.startswith(("ml.m", "ml.c", "ml.g", "ml.inf")) for t in allowed), "CPU and GPU types only"
    (assertion,) = TEMPLATE["Rules"]["DefaultInstanceTypeIsAllowed"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [{"Ref": "AllowedInstanceTypes"}, {"Ref": "DefaultInstanceType"}]}


def test_the_create_function_gets_the_limits_and_the_authorization_settings():
    variables = RESOURCES["CreateTaskFunction"]["Properties"]["Environment"]["Variables"]

    assert variables["ALLOWED_INSTANCE_TYPES"] == {"Fn::Join": [",", {"Ref": "AllowedInstanceTypes"}]}
    assert variables["MAX_INSTANCE_COUNT"] == {"Ref": "MaxInstanceCount"}
    assert variables["OWNER_TAG_KEY"] == {"Ref": "OwnerTagKey"}
    assert variables["ADMIN_PRINCIPAL_ARN_PATTERNS"] == {"Fn::Join": [",", {"Ref": "AdminPrincipalArnPatterns"}]}
    read = set(CreateTaskSettings.model_fields) | set(AuthorizationSettings.model_fields)
    assert {name.lower() for name in variables if name.startswith(("ALLOWED_", "MAX_", "OWNER_", "ADMIN_"))} <= read


def test_authorization_parameters_default_to_the_team_tag_and_no_admins():
    assert PARAMETERS["OwnerTagKey"]["Default"] == "team"
    assert PARAMETERS["AdminPrincipalArnPatterns"] == {
        **PARAMETERS["AdminPrincipalArnPatterns"],
        "Type": "CommaDelimitedList",
        "Default": "",
    }


def test_the_create_function_reads_tags_of_this_accounts_principals_and_models_only():
    (roles,) = _granting("CreateTaskFunction", "iam:GetRole")
    (users,) = _granting("CreateTaskFunction", "iam:ListUserTags")
    (models,) = _granting("CreateTaskFunction", "sagemaker:ListTags")

    assert _actions(roles) == {"iam:GetRole"}
    assert roles["Resource"] == {"Fn::Sub": f"{ACCOUNT_ARN}:role/*"}
    assert _actions(users) == {"iam:ListUserTags"}
    assert users["Resource"] == {"Fn::Sub": f"{ACCOUNT_ARN}:user/*"}
    assert _actions(models) == {"sagemaker:DescribeModel", "sagemaker:ListTags"}
    assert models["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:model/*"}
    assert not _granting("ReadTaskFunction", "iam:GetRole"), "read routes stay open: no authorization"


def test_the_resource_policy_refuses_other_accounts_unless_trusted():
    """Cross-account callers are refused before any function runs, unless TrustedAccountIds lists them."""
    statements = RESOURCES["Api"]["Properties"]["Policy"]["Statement"]
    accounts = {
        "Fn::Split": [
            ",",
            {"Fn::Join": [",", [{"Ref": "AWS::AccountId"}, {"Fn::Join": [",", {"Ref": "TrustedAccountIds"}]}]]},
        ]
    }
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    (by_account,) = [s for s in statements if "StringNotEquals" in s.get("Condition", {})]

    assert allow["Principal"]["AWS"]["Fn::If"][1] == accounts
    assert by_account["Effect"] == "Deny"
    assert by_account["Resource"] == "execute-api:/*"
    assert by_account["Condition"]["StringNotEquals"] == {"aws:PrincipalAccount": accounts}
    assert PARAMETERS["TrustedAccountIds"]["Default"] == ""
    assert PARAMETERS["TrustedAccountIds"]["AllowedPattern"] == "^([0-9]{12})?$"
