"""The caller ARNs API Gateway reports, as the authorization reads them; its settings from the environment."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from inference_deploy.adapters.iam import IamPrincipal
from inference_deploy.errors import ConfigurationError
from inference_deploy.logic.authorization import CallerIdentity
from inference_deploy.models.settings import AuthorizationSettings, CreateTaskSettings, load_settings
from local_stack.run_config import RUN_PARAMETERS
from local_stack.sam_env import sam_env_vars
from local_stack.template import load_template
from tests.conftest import TEMPLATE

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("arn", "arns", "principal"),
    [
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/search-deployer/alice@example.com",
            (
                f"arn:aws:sts::{ACCOUNT}:assumed-role/search-deployer/alice@example.com",
                f"arn:aws:iam::{ACCOUNT}:role/search-deployer",
            ),
            IamPrincipal("role", "search-deployer"),
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:user/people/alice",
            (f"arn:aws:iam::{ACCOUNT}:user/people/alice",),
            IamPrincipal("user", "alice"),
        ),
        (
            f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/ci/run-1",
            (f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/ci/run-1", f"arn:aws-us-gov:iam::{ACCOUNT}:role/ci"),
            IamPrincipal("role", "ci"),
        ),
        # Another account's principal: matched against admin patterns, but its tags are not this account's.
        (
            "arn:aws:sts::210987654321:assumed-role/search-deployer/s",
            (
                "arn:aws:sts::210987654321:assumed-role/search-deployer/s",
                "arn:aws:iam::210987654321:role/search-deployer",
            ),
            None,
        ),
        (f"arn:aws:iam::{ACCOUNT}:root", (f"arn:aws:iam::{ACCOUNT}:root",), None),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", (f"arn:aws:sts::{ACCOUNT}:federated-user/bob",), None),
        ("", ("",), None),
    ],
)
def test_a_caller_arn_names_its_principal_and_the_arns_admin_patterns_match(arn, arns, principal):
    caller = CallerIdentity.from_arn(arn, ACCOUNT)

    assert caller.arns == arns
    assert caller.principal == principal


def test_admin_patterns_are_a_comma_separated_list_and_may_be_empty():
    with mock.patch.dict(os.environ, {"OWNER_TAG_KEY": "team", "ADMIN_PRINCIPAL_ARN_PATTERNS": ""}):
        assert load_settings(AuthorizationSettings).admin_principal_arn_patterns == ()
    patterns = "arn:aws:iam::*:role/ml-platform-*, arn:aws:iam::123456789012:user/ops"
    with mock.patch.dict(os.environ, {"OWNER_TAG_KEY": "team", "ADMIN_PRINCIPAL_ARN_PATTERNS": patterns}):
        assert load_settings(AuthorizationSettings).admin_principal_arn_patterns == (
            "arn:aws:iam::*:role/ml-platform-*",
            "arn:aws:iam::123456789012:user/ops",
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
    "BAKE_CHECK_SECONDS": "0",
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
