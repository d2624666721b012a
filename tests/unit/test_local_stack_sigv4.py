"""The local gateway checks SigV4 like API Gateway with AWS_IAM: who signed is the caller, anything else is a 403."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cfnlint.decode.cfn_yaml import load as load_yaml
from moto import mock_aws

from local_stack.api_gateway import ApiGateway, ApiGatewayServer, HttpRequest, HttpResponse, gateway_responses
from local_stack.sigv4 import MotoCredentials, Signer, StaticCredentials, sign_headers
from tests.unit.test_local_stack_api_gateway import ROOT, FakeFunction, echo, route

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 5, 21, 15, 0, 0, tzinfo=UTC)
USER = Signer("AKIAEXAMPLEUSER00001", "user-secret", f"arn:aws:iam::{ACCOUNT}:user/alice", "AIDAALICE", ACCOUNT)
SESSION = Signer(
    "ASIAEXAMPLESESSION01",
    "session-secret",
    f"arn:aws:sts::{ACCOUNT}:assumed-role/search-deployer/me",
    "AROASEARCH:me",
    ACCOUNT,
    session_token="token-1",
    expires_at=NOW + timedelta(hours=1),
)
RESPONSES = gateway_responses(load_yaml(ROOT / "template.yaml")["Resources"]["Api"]["Properties"]["GatewayResponses"])
URL = "http://127.0.0.1:3000/v1/items?b=2&a=1"
BODY = b'{"embedding_model_id": "m"}'


def gateway(now: datetime = NOW) -> ApiGateway:
    routes = [route("/items", "POST", function=FakeFunction("Echo", echo))]
    return ApiGateway(
        routes, account_id=ACCOUNT, credentials=StaticCredentials(USER, SESSION), responses=RESPONSES, clock=lambda: now
    )


def send(headers: list[tuple[str, str]], body: bytes = BODY, now: datetime = NOW) -> HttpResponse:
    response, _ = gateway(now).handle(
        HttpRequest("POST", "/v1/items?b=2&a=1", headers, body, "10.0.0.1"), domain_name="127.0.0.1:3000"
    )
    return response


def signed(
    signer: Signer = USER, *, secret: str | None = None, token: str | None = None, at: datetime = NOW, **options: Any
) -> list[tuple[str, str]]:
    return sign_headers(
        "POST",
        URL,
        access_key=signer.access_key,
        secret_key=secret or signer.secret_key,
        session_token=token,
        region=options.pop("region", REGION),
        body=BODY,
        now=at,
        headers=[("Content-Type", "application/json")],
    )


def identity(response: HttpResponse) -> dict[str, Any]:
    assert response.status == 200, response.body
    return json.loads(response.body)["requestContext"]["identity"]


def refused(response: HttpResponse, code: str, error_type: str) -> str:
    """The refusal's detail, once its status, problem code and error type are checked."""
    assert response.status == 403, response.body
    assert response.header("Content-Type") == "application/problem+json"
    assert response.header("x-amzn-ErrorType") == error_type
    problem = response.json()
    assert problem["code"] == code
    return str(problem["detail"])


def test_a_request_signed_by_botocore_is_its_signers():
    """The SDKs' own signer (botocore SigV4Auth, as requests-aws4auth and curl implement the same spec)."""
    request = AWSRequest("POST", URL, data=BODY, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(USER.access_key, USER.secret_key), "execute-api", REGION).add_auth(request)
    headers = [(name, str(value)) for name, value in request.headers.items()]
    headers.append(("Host", "127.0.0.1:3000"))

    seen = identity(send(headers, now=datetime.now(UTC)))

    assert seen["userArn"] == USER.user_arn
    assert seen["caller"] == seen["user"] == "AIDAALICE"
    assert seen["accessKey"] == USER.access_key
    assert seen["accountId"] == ACCOUNT


def test_a_role_sessions_request_is_the_assumed_role_when_it_carries_its_token():
    seen = identity(send(signed(SESSION, token="token-1")))

    assert seen["userArn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/search-deployer/me"
    assert seen["caller"] == "AROASEARCH:me"


def test_an_unsigned_request_is_missing_its_authentication_token():
    response = send([("Content-Type", "application/json")])

    assert "not SigV4-signed" in refused(
        response, "missing_authentication_token", "MissingAuthenticationTokenException"
    )


@pytest.mark.parametrize(
    ("headers", "error_type"),
    [
        (signed(secret="wrong-secret"), "InvalidSignatureException"),
        (signed(region="eu-west-1"), "InvalidSignatureException"),
        # not signed over Host
        (
            [(n, v.replace("host;", "")) if n == "Authorization" else (n, v) for n, v in signed()],
            "IncompleteSignatureException",
        ),
        (
            [(n, v.split(", Signature=")[0]) if n == "Authorization" else (n, v) for n, v in signed()],
            "IncompleteSignatureException",
        ),
        ([(n, v) for n, v in signed() if n != "X-Amz-Date"], "IncompleteSignatureException"),
        ([("Authorization", "Basic YWxpY2U6c2VjcmV0")], "IncompleteSignatureException"),
        # an access key nobody was given, a session's key without its token, or with another one
        (signed(Signer("AKIANOBODY0000000000", "x", "arn", "c", ACCOUNT)), "UnrecognizedClientException"),
        (signed(SESSION), "UnrecognizedClientException"),
        (signed(SESSION, token="token-2"), "UnrecognizedClientException"),
        # signed too long ago, or too far ahead of the gateway's clock
        (signed(at=NOW - timedelta(minutes=6)), "InvalidSignatureException"),
        (signed(at=NOW + timedelta(minutes=6)), "InvalidSignatureException"),
    ],
)
def test_a_badly_signed_request_is_refused_with_what_api_gateway_says(headers, error_type):
    assert refused(send(headers), "invalid_signature", error_type)


def test_the_refusal_says_why_like_api_gateway():
    mismatch = send(signed(secret="wrong-secret"))
    expired = send(signed(at=NOW - timedelta(minutes=6)))

    assert mismatch.json()["detail"].startswith("The request signature we calculated does not match")
    assert expired.json()["detail"].startswith("Signature expired: 20260521T145400Z is now earlier than")


def test_a_body_changed_after_signing_does_not_verify():
    assert refused(
        send(signed(), body=b'{"embedding_model_id": "other"}'), "invalid_signature", "InvalidSignatureException"
    )


def test_a_signature_within_five_minutes_of_the_clock_verifies():
    assert identity(send(signed(at=NOW - timedelta(minutes=4))))["userArn"] == USER.user_arn


def test_an_expired_session_is_an_expired_token():
    later = NOW + timedelta(hours=2)

    response = send(signed(SESSION, token="token-1", at=later), now=later)

    assert refused(response, "expired_token", "ExpiredTokenException")


# ---------------------------------------------------------------- the signers moto knows


@pytest.fixture
def moto_iam() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("iam", region_name=REGION)


def test_moto_credentials_are_its_users_active_keys_and_its_role_sessions(moto_iam):
    user = moto_iam.create_user(UserName="alice")["User"]
    key = moto_iam.create_access_key(UserName="alice")["AccessKey"]
    inactive = moto_iam.create_access_key(UserName="alice")["AccessKey"]
    moto_iam.update_access_key(UserName="alice", AccessKeyId=inactive["AccessKeyId"], Status="Inactive")
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}
    role = moto_iam.create_role(RoleName="deployer", Path="/teams/", AssumeRolePolicyDocument=json.dumps(trust))
    session = boto3.client("sts", region_name=REGION).assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="me")
    credentials = MotoCredentials()

    as_user = credentials.signer(key["AccessKeyId"])
    as_session = credentials.signer(session["Credentials"]["AccessKeyId"])

    assert as_user is not None
    assert (as_user.user_arn, as_user.secret_key, as_user.session_token) == (user["Arn"], key["SecretAccessKey"], None)
    assert as_session is not None
    assert (
        as_session.user_arn == session["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/me"
    )
    assert as_session.caller == session["AssumedRoleUser"]["AssumedRoleId"]
    assert as_session.session_token == session["Credentials"]["SessionToken"]
    assert credentials.signer(inactive["AccessKeyId"]) is None
    assert credentials.signer("AKIANOBODY0000000000") is None


# ---------------------------------------------------------------- curl, as the README shows


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_aws_sigv4_calls_the_local_gateway_as_the_key_owner():
    function = FakeFunction("Echo", echo)
    api = ApiGateway(
        [route("/items", "POST", function=function)], account_id=ACCOUNT, credentials=StaticCredentials(USER)
    )
    with ApiGatewayServer(api, port=0) as server:
        answer = subprocess.run(
            [
                "curl", "-sS", "--aws-sigv4", f"aws:amz:{REGION}:execute-api", "--user",
                f"{USER.access_key}:{USER.secret_key}", "-X", "POST", f"{server.url}/v1/items?x=1",
                "-H", "Content-Type: application/json", "-d", BODY.decode(),
            ],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    if "aws-sigv4" in answer.stderr:
        pytest.skip(f"this curl has no --aws-sigv4: {answer.stderr.strip()}")
    assert json.loads(answer.stdout)["requestContext"]["identity"]["userArn"] == USER.user_arn
