"""API Gateway's own answers (unknown route, IAM refusals, throttling, too large, integration errors) are
problem documents like the service's, in the deployed template and in the local gateway built from it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml

from local_stack import api_gateway, plan_stack
from local_stack.api_gateway import ApiGateway, ApiGatewayServer, HttpRequest, gateway_responses_from_stack
from local_stack.sigv4 import StaticCredentials, sign_headers
from local_stack.template import load_template
from tests.unit.test_local_stack_api_gateway import USER as SIGNER
from tests.unit.test_local_stack_api_gateway import FakeFunction, echo, route

ROOT = Path(__file__).resolve().parents[2]
API = load_yaml(ROOT / "template.yaml")["Resources"]["Api"]["Properties"]
PROBLEM = "application/problem+json"
# Every response type API Gateway has (AWS::ApiGateway::GatewayResponse ResponseType).
RESPONSE_TYPES = {
    "DEFAULT_4XX",
    "DEFAULT_5XX",
    "ACCESS_DENIED",
    "API_CONFIGURATION_ERROR",
    "AUTHORIZER_CONFIGURATION_ERROR",
    "AUTHORIZER_FAILURE",
    "BAD_REQUEST_BODY",
    "BAD_REQUEST_PARAMETERS",
    "EXPIRED_TOKEN",
    "INTEGRATION_FAILURE",
    "INTEGRATION_TIMEOUT",
    "INVALID_API_KEY",
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN",
    "QUOTA_EXCEEDED",
    "REQUEST_TOO_LARGE",
    "RESOURCE_NOT_FOUND",
    "THROTTLED",
    "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE",
    "WAF_FILTERED",
}


def _rendered(template: str) -> dict[str, Any]:
    """The body API Gateway sends: the template with its $context variables filled in."""
    for variable, value in (
        ("$context.path", "/v1/x"),
        ("$context.requestId", "r-1"),
        ("$context.error.messageString", '"Signature expired"'),
    ):
        template = template.replace(variable, value)
    assert "$context" not in template, template
    return json.loads(template)


def test_every_gateway_response_type_is_customised() -> None:
    assert set(API["GatewayResponses"]) == RESPONSE_TYPES


@pytest.mark.parametrize("response_type", sorted(RESPONSE_TYPES))
def test_every_gateway_response_is_a_problem_document(response_type: str) -> None:
    response = API["GatewayResponses"][response_type]
    status = int(response["StatusCode"])

    body = _rendered(response["ResponseTemplates"]["application/json"])

    assert response["ResponseParameters"]["Headers"]["Content-Type"] == f"'{PROBLEM}'"
    assert body["status"] == status
    assert body["title"] == HTTPStatus(status).phrase
    assert body["type"] == f"urn:inference-deployment:problem:{body['code']}"
    assert body["detail"]
    assert body["instance"] == "/v1/x"
    assert body["request_id"] == "r-1"
    assert (status == HTTPStatus.TOO_MANY_REQUESTS) == ("Retry-After" in response["ResponseParameters"]["Headers"])
    if response_type.startswith("DEFAULT_"):
        assert status // 100 == int(response_type[-3])


# ---------------------------------------------------------------- the local gateway answers the same way

RESPONSES = gateway_responses_from_stack(plan_stack(load_template(ROOT / "template.yaml")))


def _assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int, code: str) -> None:
    assert status == expected, body
    assert headers["Content-Type"] == PROBLEM
    problem = json.loads(body)
    assert problem["status"] == expected
    assert problem["code"] == code
    assert problem["type"] == f"urn:inference-deployment:problem:{code}"
    assert problem["title"] == HTTPStatus(expected).phrase
    assert problem["request_id"] == headers["x-amzn-RequestId"]


def crash(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("boom")


@pytest.fixture
def server() -> Iterator[ApiGatewayServer]:
    routes = [
        route("/items", "POST", function=FakeFunction("Echo", echo)),
        route("/crash", function=FakeFunction("Crash", crash)),
        route("/malformed", function=FakeFunction("Malformed", lambda event, context: {"body": "no status"})),
    ]
    gateway = ApiGateway(routes, account_id="123456789012", credentials=StaticCredentials(SIGNER), responses=RESPONSES)
    with ApiGatewayServer(gateway, port=0) as served:
        yield served


def _send(server: ApiGatewayServer, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
    """Send a request signed with SIGNER's key (a gateway refuses unsigned requests before routing them on)."""
    named = [(name.replace("_", "-"), value) for name, value in headers.items()]
    signed = sign_headers(
        method,
        f"http://127.0.0.1:{server.port}{path}",
        access_key=SIGNER.access_key,
        secret_key=SIGNER.secret_key,
        region="us-east-1",
        body=body,
        headers=named,
    )
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True)
        for name, value in signed:
            connection.putheader(name, value)
        if "Content_Length" not in headers:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/no/such/route", 403, "missing_authentication_token"),
        ("DELETE", "/v1/items", 403, "missing_authentication_token"),
        ("GET", "/v1/crash", 502, "gateway_error"),
        ("GET", "/v1/malformed", 502, "gateway_error"),
    ],
)
def test_the_local_gateway_answers_its_own_errors_as_the_template_says(
    server: ApiGatewayServer, method: str, path: str, status: int, code: str
) -> None:
    answer = _send(server, method, path)

    _assert_problem(*answer, status, code)
    assert json.loads(answer[2])["instance"] == path


def test_a_body_over_the_gateway_limit_is_a_413_problem(
    server: ApiGatewayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_gateway, "MAX_PAYLOAD_BYTES", 1024)

    answer = _send(server, "POST", "/v1/items", b"x" * 1025, Content_Type="application/json")

    _assert_problem(*answer, 413, "request_too_large")


def test_an_unreadable_request_is_a_400_problem(server: ApiGatewayServer) -> None:
    answer = _send(server, "POST", "/v1/items", Content_Length="lots")

    _assert_problem(*answer, 400, "client_error")


def test_a_timed_out_integration_is_a_504_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_gateway, "INTEGRATION_TIMEOUT_SECONDS", -1.0)
    gateway = ApiGateway(
        [route("/items", function=FakeFunction("Echo", echo))],
        account_id="1",
        credentials=StaticCredentials(SIGNER),
        responses=RESPONSES,
    )
    headers = sign_headers(
        "GET",
        "http://localhost/v1/items",
        access_key=SIGNER.access_key,
        secret_key=SIGNER.secret_key,
        region="us-east-1",
    )

    response, _ = gateway.handle(HttpRequest("GET", "/v1/items", headers, b"", "10.0.0.1"), domain_name="localhost")

    _assert_problem(response.status, dict(response.headers), response.body, 504, "integration_timeout")


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "BREW"])
def test_any_other_method_gets_the_gateways_problem_not_an_html_page(server: ApiGatewayServer, method: str) -> None:
    answer = _send(server, method, "/v1/items")

    _assert_problem(*answer, 403, "missing_authentication_token")


def _raw(server: ApiGatewayServer, request: bytes) -> Any:
    """What the gateway answers to bytes http.client would refuse to send (over-long lines, 100+ headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.connect()
        assert connection.sock is not None
        connection.sock.sendall(request)
        response = http.client.HTTPResponse(connection.sock, method="GET")
        response.begin()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_an_over_long_uri_is_a_414_problem_not_an_html_page(server: ApiGatewayServer) -> None:
    answer = _raw(server, b"GET /v1/items?q=" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")

    _assert_problem(*answer, 414, "client_error")
    assert answer[1]["Connection"] == "close"


@pytest.mark.parametrize(
    "headers",
    [b"X-Big: " + b"x" * 70_000 + b"\r\n", b"".join(b"X-H%d: v\r\n" % n for n in range(120))],
    ids=["a header line too long", "too many headers"],
)
def test_oversized_headers_are_a_431_problem_not_an_html_page(server: ApiGatewayServer, headers: bytes) -> None:
    answer = _raw(server, b"GET /v1/items HTTP/1.1\r\nHost: localhost\r\n" + headers + b"\r\n")

    _assert_problem(*answer, 431, "client_error")
    assert answer[1]["Connection"] == "close"
