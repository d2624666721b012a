"""`make e2e`'s target: skipped (exit 0, "skipped: ...") without a target or credentials; a stack name
resolves to the stack's ApiUrl output through CloudFormation DescribeStacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.session
import pytest
from moto import mock_aws

from scripts import api_flow

NO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
    "AWS_SESSION_TOKEN": "",
    "AWS_PROFILE": "",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
}
API_URL = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/v1"


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in NO_CREDENTIALS.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


@pytest.fixture
def stack_with_an_api() -> Iterator[str]:
    template = {
        "Resources": {"Handle": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ApiUrl": {"Value": API_URL}, "TasksTableName": {"Value": "tasks"}},
    }
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
        cloudformation.create_stack(StackName="inference-deployment", TemplateBody=json.dumps(template))
        yield "inference-deployment"


@pytest.mark.usefixtures("no_credentials")
def test_without_a_target_it_is_skipped_with_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = api_flow.main_e2e(["--e2e"], environ={})

    assert code == 0
    assert capsys.readouterr().out.startswith("skipped: set E2E_API_URL or E2E_STACK_NAME")


@pytest.mark.usefixtures("no_credentials")
def test_without_credentials_it_is_skipped_with_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = api_flow.main_e2e(["--e2e"], environ={"E2E_API_URL": API_URL, "E2E_MODEL": "m"})

    assert code == 0
    assert capsys.readouterr().out.startswith("skipped: no AWS credentials")


def test_a_stack_name_resolves_to_its_api_url_output_and_region(stack_with_an_api: str) -> None:
    session = botocore.session.Session()
    session.set_credentials("AKIAEXAMPLE", "secret", "a-session-token")  # temporary credentials sign too

    url, credentials, region = api_flow.e2e_target(
        {"E2E_STACK_NAME": stack_with_an_api, "E2E_REGION": "eu-west-1"}, session
    )

    assert (url, region) == (API_URL, "eu-west-1")
    assert credentials.get_frozen_credentials().token == "a-session-token"


def test_a_stack_without_the_output_is_a_failure_not_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    template = {"Resources": {"Handle": {"Type": "AWS::SNS::Topic"}}}
    with mock_aws():
        boto3.client("cloudformation", region_name="eu-west-1").create_stack(
            StackName="other", TemplateBody=json.dumps(template)
        )
        code = api_flow.main_e2e(["--e2e"], environ={"E2E_STACK_NAME": "other", "E2E_REGION": "eu-west-1"})

    assert code == 1


def test_a_target_without_a_model_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = api_flow.main_e2e(["--e2e"], environ={"E2E_API_URL": API_URL})

    assert code == 2
    assert "E2E_MODEL" in capsys.readouterr().err
