"""The local API Gateway: routing, HTTP request -> REST proxy event, proxy response -> HTTP."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local_stack import plan_stack
from local_stack.api_gateway import (
    ApiGateway,
    ApiGatewayServer,
    Caller,
    HttpRequest,
    Route,
    RouteTable,
    build_event,
    proxy_response,
    routes_from_stack,
)
from local_stack.handlers import Handler
from local_stack.lambdas import InvocationResult
from local_stack.sigv4 import Signer, StaticCredentials, sign_headers
from local_stack.template import load_template

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TEMPLATE = ROOT / "tests" / "fixtures" / "local_stack" / "template.yaml"
ACCOUNT = "123456789012"
NOW = datetime(2026, 5, 21, 15, 0, 0, tzinfo=UTC)
USER = Signer(
    "AKIAEXAMPLEUSER00001", "user-secret", f"arn:aws:iam::{ACCOUNT}:user/local-developer", "AIDAEXAMPLE", ACCOUNT
)
CALLER = Caller.of(USER)


def gateway(routes: Any, **options: Any) -> ApiGateway:
    return ApiGateway(routes, account_id=ACCOUNT, credentials=StaticCredentials(USER), **options)


@dataclass
class FakeFunction:
    """A LambdaFunction whose handler is a Python callable; records what it was called with."""

    name: str
    handler: Handler
    timeout: int = 20
    memory_size: int = 512
    calls: list[tuple[dict[str, Any], Any]] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.name}"

    def load_handler(self) -> Handler:
        def recording(event: dict[str, Any], context: Any) -> Any:
            self.calls.append((event, context))
            return self.handler(event, context)

        return recording


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}


def route(resource: str, method: str = "GET", *, function: FakeFunction | None = None, stage: str = "v1") -> Route:
    function = function or FakeFunction("Fn", echo)
    return Route(method, resource, function, function.name, stage, "abc123defg")


def request(
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> HttpRequest:
    return HttpRequest(method, target, headers or [], body, source_ip="10.1.2.3")


def event_for(table: RouteTable, http: HttpRequest) -> dict[str, Any]:
    match = table.match(http.method, http.target.split("?", 1)[0])
    assert match is not None
    return build_event(
        match,
        http,
        account_id=ACCOUNT,
        caller=CALLER,
        request_id="req-1",
        now=NOW,
        domain_name="127.0.0.1:3000",
    )


# ---------------------------------------------------------------- routing


TABLE = RouteTable(
    [
        route("/items/{item_id}"),
        route("/items", "POST"),
        route("/items/special"),
        route("/files/{path+}"),
        route("/anything", "ANY"),
    ]
)


def test_path_parameters_are_matched_from_the_templates_and_url_decoded() -> None:
    match = TABLE.match("GET", "/items/a%20b")

    assert match is not None
    assert match.route.resource == "/items/{item_id}"
    assert match.path_parameters == {"item_id": "a b"}
    assert match.path == "/items/a%20b"


def test_a_static_path_wins_over_a_parameter_and_greedy_parameters_take_the_rest() -> None:
    static = TABLE.match("GET", "/items/special")
    greedy = TABLE.match("GET", "/files/a/b/c.txt")

    assert static is not None
    assert static.route.resource == "/items/special"
    assert static.path_parameters == {}
    assert greedy is not None
    assert greedy.path_parameters == {"path": "a/b/c.txt"}


def test_paths_are_served_bare_and_under_the_stage_with_or_without_a_trailing_slash() -> None:
    for path in ("/items/x", "/v1/items/x", "/items/x/"):
        match = TABLE.match("GET", path)
        assert match is not None, path
        assert match.path == "/items/x"
        assert match.path_parameters == {"item_id": "x"}


def test_unknown_paths_and_undeclared_methods_have_no_route_but_any_takes_every_method() -> None:
    assert TABLE.match("GET", "/nothing") is None
    assert TABLE.match("DELETE", "/items/x") is None
    assert TABLE.match("GET", "/items") is None
    assert TABLE.match("PATCH", "/anything") is not None


def test_routes_come_from_the_template_with_the_stage_of_their_api() -> None:
    stack = plan_stack(load_template(ROOT / "template.yaml"))

    routes = routes_from_stack(stack)

    declared = {(r.method, r.path, r.function) for r in stack.routes}
    assert {(r.method, r.resource, r.function_id) for r in routes} == declared
    assert {r.stage for r in routes} == {"v1"}
    assert {r.api_id for r in routes} == {stack.ref("Api")}
    assert all(r.function is stack.functions[r.function_id] for r in routes)


def test_the_stage_follows_the_template_parameters() -> None:
    stack = plan_stack(load_template(FIXTURE_TEMPLATE), parameters={"Stage": "prod"})

    assert {r.stage for r in routes_from_stack(stack)} == {"prod"}


# ---------------------------------------------------------------- request -> event


def test_the_event_has_the_rest_proxy_shape() -> None:
    event = event_for(TABLE, request("GET", "/v1/items/42", [("Accept", "application/json")]))

    assert event["resource"] == "/items/{item_id}"
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"item_id": "42"}
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_the_request_context_carries_the_stage_and_a_local_iam_caller() -> None:
    event = event_for(TABLE, request("GET", "/items/42", [("User-Agent", "curl/8.5")]))
    context = event["requestContext"]

    assert context["stage"] == "v1"
    assert context["path"] == "/v1/items/42"
    assert context["resourcePath"] == "/items/{item_id}"
    assert context["httpMethod"] == "GET"
    assert context["requestId"] == "req-1"
    assert context["requestTimeEpoch"] == int(NOW.timestamp() * 1000)
    assert context["requestTime"] == "21/May/2026:15:00:00 +0000"
    assert context["accountId"] == ACCOUNT
    assert context["apiId"] == "abc123defg"
    assert context["domainName"] == "127.0.0.1:3000"
    identity = context["identity"]
    assert identity["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/local-developer"
    assert identity["caller"] == identity["user"] == "AIDAEXAMPLE"
    assert identity["accessKey"] == "AKIAEXAMPLEUSER00001"
    assert identity["accountId"] == ACCOUNT
    assert identity["sourceIp"] == "10.1.2.3"
    assert identity["userAgent"] == "curl/8.5"


def test_query_strings_keep_every_value_and_the_last_one_singly() -> None:
    event = event_for(TABLE, request("GET", "/items/1?tag=a&tag=b&q=hello%20world&empty="))

    assert event["queryStringParameters"] == {"tag": "b", "q": "hello world", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "q": ["hello world"], "empty": [""]}


def test_repeated_headers_are_multi_valued_and_the_last_value_is_the_single_one() -> None:
    headers = [("Accept", "text/plain"), ("X-Trace", "one"), ("x-trace", "two")]

    event = event_for(TABLE, request("GET", "/items/1", headers))

    assert event["headers"] == {"Accept": "text/plain", "X-Trace": "two"}
    assert event["multiValueHeaders"] == {"Accept": ["text/plain"], "X-Trace": ["one", "two"]}


def test_text_bodies_pass_as_text_and_other_bodies_in_base64() -> None:
    table = RouteTable([route("/items", "POST")])
    binary = bytes(range(256))
    cases = [
        ("application/json", b'{"a": 1}', '{"a": 1}', False),
        ("text/csv; charset=utf-8", "é,ü".encode(), "é,ü", False),
        ("application/vnd.api+json", b"{}", "{}", False),
        ("application/octet-stream", binary, base64.b64encode(binary).decode(), True),
        ("application/json", b"\xff\xfe", base64.b64encode(b"\xff\xfe").decode(), True),
        ("", b"\x00\x01", base64.b64encode(b"\x00\x01").decode(), True),
        ("", b"plain words\n", "plain words\n", False),
    ]
    for content_type, body, expected, is_base64 in cases:
        headers = [("Content-Type", content_type)] if content_type else []
        event = event_for(table, request("POST", "/items", headers, body))
        assert (event["body"], event["isBase64Encoded"]) == (expected, is_base64), content_type


# ---------------------------------------------------------------- function answer -> HTTP


def result(answer: Any, error: str | None = None) -> InvocationResult:
    return InvocationResult(json.dumps(answer).encode(), error)


def test_headers_and_multi_value_headers_are_merged_into_the_answer() -> None:
    response = proxy_response(
        result(
            {
                "statusCode": 201,
                "headers": {"Location": "/v1/items/1", "Set-Cookie": "a=1"},
                "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "Content-Type": ["application/problem+json"]},
                "body": '{"ok": true}',
            }
        ),
        "req-1",
    )

    assert response.status == 201
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert response.header("Location") == "/v1/items/1"
    assert response.header("content-type") == "application/problem+json"
    assert response.header("x-amzn-RequestId") == "req-1"
    assert response.json() == {"ok": True}


def test_base64_answers_are_decoded_and_json_is_the_default_content_type() -> None:
    binary = base64.b64encode(b"\x00\x01\x02").decode()

    decoded = proxy_response(result({"statusCode": 200, "body": binary, "isBase64Encoded": True}), "r")
    empty = proxy_response(result({"statusCode": 204}), "r")

    assert decoded.body == b"\x00\x01\x02"
    assert decoded.header("Content-Type") == "application/json"
    assert (empty.status, empty.body) == (204, b"")


@pytest.mark.parametrize(
    "answer",
    [
        "not an object",
        {"body": "no status"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": {"X": {"nested": 1}}},
    ],
)
def test_a_malformed_proxy_answer_is_a_502_like_api_gateway_gives(answer: Any) -> None:
    response = proxy_response(result(answer), "r")

    assert response.status == 502
    assert response.json() == {"message": "Internal server error"}


def test_a_function_error_is_a_502() -> None:
    response = proxy_response(result({"errorType": "KeyError", "errorMessage": "x"}, "Unhandled"), "r")

    assert response.status == 502
    assert response.header("x-amzn-ErrorType") == "InternalServerErrorException"


def test_no_route_is_a_403_missing_authentication_token() -> None:
    api = gateway(TABLE.routes)

    for method, target in (("GET", "/nothing"), ("DELETE", "/items/1")):
        response, matched = api.handle(request(method, target), domain_name="localhost")
        assert matched is None
        assert response.status == 403
        assert response.json() == {"message": "Missing Authentication Token"}
        assert response.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"


# ---------------------------------------------------------------- over HTTP


@pytest.fixture
def served() -> Iterator[tuple[ApiGatewayServer, FakeFunction]]:
    function = FakeFunction("EchoFunction", echo, timeout=7)
    routes = [route("/items/{item_id}", "GET", function=function), route("/items", "POST", function=function)]
    with ApiGatewayServer(gateway(routes), port=0) as server:
        yield server, function


def http(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    signed: bool = True,
) -> Any:
    """The answer to a request, signed with USER's key unless `signed` is False."""
    if signed:
        pairs = sign_headers(
            method,
            url,
            access_key=USER.access_key,
            secret_key=USER.secret_key,
            region="us-east-1",
            body=body or b"",
            headers=list((headers or {}).items()),
        )
        headers = {name: value for name, value in pairs if name != "Host"}
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_request_reaches_the_handler_as_a_proxy_event_with_a_lambda_context(
    served: tuple[ApiGatewayServer, FakeFunction],
) -> None:
    server, function = served

    status, headers, body = http(
        f"{server.url}/v1/items?x=1&x=2",
        "POST",
        b'{"name": "n"}',
        {"Content-Type": "application/json", "X-Multi": "a"},
    )

    assert status == 200
    assert headers["x-amzn-RequestId"]
    event = json.loads(body)
    assert event["path"] == "/items"
    assert event["requestContext"]["path"] == "/v1/items"
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["body"] == '{"name": "n"}'
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    [(_, context)] = function.calls
    assert context.function_name == "EchoFunction"
    assert context.aws_request_id
    assert 0 < context.get_remaining_time_in_millis() <= 7000


def test_the_signer_of_a_request_is_the_caller_the_function_sees(
    served: tuple[ApiGatewayServer, FakeFunction],
) -> None:
    server, _ = served

    status, _, body = http(f"{server.url}/items/1")

    assert status == 200
    identity = json.loads(body)["requestContext"]["identity"]
    assert identity["userArn"] == USER.user_arn
    assert identity["accessKey"] == USER.access_key
    assert identity["accountId"] == ACCOUNT


def test_an_unsigned_request_is_refused_before_any_function_runs(
    served: tuple[ApiGatewayServer, FakeFunction],
) -> None:
    server, function = served

    status, headers, body = http(f"{server.url}/items/1", signed=False)

    assert status == 403
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert function.calls == []


def test_over_http_an_unknown_route_is_403_and_a_crash_is_502(served: tuple[ApiGatewayServer, FakeFunction]) -> None:
    server, function = served
    function.handler = lambda event, context: event["missing"]

    unknown = http(f"{server.url}/nope", signed=False)
    crashed = http(f"{server.url}/items/1")

    assert unknown[0] == 403
    assert json.loads(unknown[2]) == {"message": "Missing Authentication Token"}
    assert crashed[0] == 502
    assert json.loads(crashed[2]) == {"message": "Internal server error"}


def test_stopping_the_server_frees_its_port() -> None:
    server = ApiGatewayServer(gateway([]), port=0)
    server.start()
    port = server.port
    server.stop()

    rebound = ApiGatewayServer(gateway([]), port=port)
    rebound.start()
    rebound.stop()
