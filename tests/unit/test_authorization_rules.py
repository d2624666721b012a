"""The caller ARNs API Gateway reports, as the authorization reads them; its settings from the environment."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from inference_deploy.adapters.iam import IamPrincipal, KnownPrincipal
from inference_deploy.errors import ConfigurationError
from inference_deploy.logic.authorization import ADMIN_PATTERN, CallerIdentity, is_admin
from inference_deploy.models.settings import AuthorizationSettings, CreateTaskSettings, load_settings
from local_stack.run_config import RUN_PARAMETERS
from local_stack.sam_env import sam_env_vars
from local_stack.stack import plan_stack
from local_stack.template import TemplateError, load_template
from tests.conftest import TEMPLATE

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("arn", "principal"),
    [
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/search-deployer/alice@example.com",
            IamPrincipal("role", "search-deployer"),
        ),
        (f"arn:aws:iam::{ACCOUNT}:user/people/alice", IamPrincipal("user", "alice")),
        (f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/ci/run-1", IamPrincipal("role", "ci")),
        # Another account's principal: this account's IAM cannot read it, so it has no team and is no admin.
        ("arn:aws:sts::210987654321:assumed-role/search-deployer/s", None),
        (f"arn:aws:iam::{ACCOUNT}:root", None),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", None),
        ("", None),
    ],
)
def test_a_caller_arn_names_its_principal_of_this_account(arn, principal):
    assert CallerIdentity.from_arn(arn, ACCOUNT).principal == principal


SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/ml-platform-ci/s"


@pytest.mark.parametrize(
    ("role_arn", "patterns", "admin"),
    [
        (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-ci", (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-*",), True),
        (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-ci", (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-c?",), True),
        (f"arn:aws:iam::{ACCOUNT}:role/ops/ml-platform-ci", (f"arn:aws:iam::{ACCOUNT}:role/ops/*",), True),
        # `*` never crosses a `/`: a pathed role is not under a pattern without its path, nor a deeper path.
        (
            f"arn:aws:iam::{ACCOUNT}:role/ml-platform-x/pathed-role",
            (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-*",),
            False,
        ),
        (f"arn:aws:iam::{ACCOUNT}:role/ops/team/admin", (f"arn:aws:iam::{ACCOUNT}:role/ops/*",), False),
        (f"arn:aws:iam::{ACCOUNT}:role/sandbox/ml-platform-ci", (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-*",), False),
        # Patterns that are not role ARN patterns of this account match nothing.
        (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-ci", ("arn:aws:iam::*:role/ml-platform-*",), False),
        (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-ci", ("arn:aws:iam::210987654321:role/ml-platform-*",), False),
        (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-ci", ("*",), False),
        (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-ci", ("arn:*",), False),
        (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-ci", (), False),
    ],
)
def test_admin_patterns_match_the_roles_arn_with_its_path_a_wildcard_within_one_segment(role_arn, patterns, admin):
    known = KnownPrincipal(role_arn, {})
    caller = CallerIdentity.from_arn(SESSION, ACCOUNT)

    assert is_admin(caller, known, ACCOUNT, patterns) is admin


def test_a_role_iam_does_not_know_an_other_accounts_session_and_a_user_are_no_admins():
    patterns = (f"arn:aws:iam::{ACCOUNT}:role/*",)
    other = CallerIdentity.from_arn("arn:aws:sts::210987654321:assumed-role/ml-platform-ci/s", ACCOUNT)
    user = CallerIdentity.from_arn(f"arn:aws:iam::{ACCOUNT}:user/ml-platform-ci", ACCOUNT)

    assert not is_admin(CallerIdentity.from_arn(SESSION, ACCOUNT), None, ACCOUNT, patterns), "no such role"
    assert not is_admin(other, KnownPrincipal(f"arn:aws:iam::{ACCOUNT}:role/ml-platform-ci", {}), ACCOUNT, patterns)
    assert not is_admin(user, KnownPrincipal(None, {}), ACCOUNT, patterns)


def test_only_sam_locals_unsigned_caller_is_an_admin_of_the_star_pattern():
    unsigned = CallerIdentity.from_arn("", ACCOUNT)
    signed = CallerIdentity.from_arn(SESSION, ACCOUNT)

    assert is_admin(unsigned, None, ACCOUNT, ("*",))
    assert not is_admin(unsigned, None, ACCOUNT, (f"arn:aws:iam::{ACCOUNT}:role/*",))
    assert not is_admin(signed, KnownPrincipal(f"arn:aws:iam::{ACCOUNT}:role/x", {}), ACCOUNT, ("*",))


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (f"arn:aws:iam::{ACCOUNT}:role/ml-platform-*", True),
        (f"arn:aws:iam::{ACCOUNT}:role/platform/admins/*", True),
        (f"arn:aws-us-gov:iam::{ACCOUNT}:role/ci", True),
        ("", True),
        ("arn:aws:iam::*:role/ml-platform-*", False),
        ("*", False),
        (f"arn:aws:iam::{ACCOUNT}:user/ops", False),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/*", False),
        (f"arn:aws:iam::{ACCOUNT}:role/", False),
        (f"arn:aws:iam::{ACCOUNT}:role//x", False),
        (f"arn:aws:iam::{ACCOUNT}:*", False),
    ],
)
def test_the_template_refuses_admin_patterns_that_are_not_role_arns(value, accepted):
    """The parameter's AllowedPattern (checked per value, as CloudFormation does) agrees with the functions."""
    template = load_template(TEMPLATE)
    parameters = {"AdminPrincipalArnPatterns": f"arn:aws:iam::{ACCOUNT}:role/ok,{value}"}

    if accepted:
        plan_stack(template, parameters=parameters)
        assert value == "" or ADMIN_PATTERN.fullmatch(value)
    else:
        with pytest.raises(TemplateError, match="AdminPrincipalArnPatterns"):
            plan_stack(template, parameters=parameters)
        assert not ADMIN_PATTERN.fullmatch(value)


def test_admin_patterns_are_a_comma_separated_list_and_may_be_empty():
    with mock.patch.dict(os.environ, {"OWNER_TAG_KEY": "team", "ADMIN_PRINCIPAL_ARN_PATTERNS": ""}):
        assert load_settings(AuthorizationSettings).admin_principal_arn_patterns == ()
    patterns = "arn:aws:iam::123456789012:role/ml-platform-*, arn:aws:iam::123456789012:role/ops/admin"
    with mock.patch.dict(os.environ, {"OWNER_TAG_KEY": "team", "ADMIN_PRINCIPAL_ARN_PATTERNS": patterns}):
        assert load_settings(AuthorizationSettings).admin_principal_arn_patterns == (
            "arn:aws:iam::123456789012:role/ml-platform-*",
            "arn:aws:iam::123456789012:role/ops/admin",
        )


CREATE_ENVIRONMENT = {
    "DEPLOYMENT_TARGET": "t",
    "DEPLOY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:d",
    "DELETE_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:x",
    "DEFAULT_INSTANCE_TYPE": "ml.m5.xlarge",
    "DEFAULT_INSTANCE_COUNT": "1",
    "GREEN_POLL_SECONDS": "0",
    "GREEN_EVENT_WAIT_SECONDS": "5",
    "GREEN_TIMEOUT_SECONDS": "0",
    "DRAIN_SECONDS": "0",
    "REMOVAL_TIMEOUT_SECONDS": "0",
    "ALLOWED_INSTANCE_TYPES": "ml.m5.large,ml.m5.xlarge",
    "MAX_INSTANCE_COUNT": "2",
    "BAKE_SECONDS": "0",
    "BAKE_ERROR_THRESHOLD": "1",
    "BAKE_LATENCY_THRESHOLD_MS": "1",
    "EMBEDDING_MIN_MEAN_COSINE": "0.9",
}


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"DEFAULT_INSTANCE_TYPE": "ml.g5.xlarge"}, "DEFAULT_INSTANCE_TYPE must be one of ALLOWED_INSTANCE_TYPES"),
        ({"DEFAULT_INSTANCE_COUNT": "3"}, "DEFAULT_INSTANCE_COUNT must be at most MAX_INSTANCE_COUNT"),
        ({"ALLOWED_INSTANCE_TYPES": ""}, "ALLOWED_INSTANCE_TYPES"),
    ],
)
def test_defaults_outside_the_cost_limits_are_a_configuration_error(overrides, named):
    with (
        mock.patch.dict(os.environ, {**CREATE_ENVIRONMENT, **overrides}),
        pytest.raises(ConfigurationError, match=named),
    ):
        load_settings(CreateTaskSettings)


def test_the_cost_limits_are_read_from_the_environment():
    with mock.patch.dict(os.environ, CREATE_ENVIRONMENT):
        settings = load_settings(CreateTaskSettings)

    assert settings.allowed_instance_types == ("ml.m5.large", "ml.m5.xlarge")
    assert settings.max_instance_count == 2


def test_sam_local_has_no_caller_so_its_env_vars_make_every_caller_an_admin():
    document = sam_env_vars(load_template(TEMPLATE))

    assert document["CreateTaskFunction"]["ADMIN_PRINCIPAL_ARN_PATTERNS"] == "*"
    assert RUN_PARAMETERS["AdminPrincipalArnPatterns"] != "*", "make run's gateway has callers: authorize them"
