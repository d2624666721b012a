"""API Gateway (REST, Lambda proxy integration) in front of the template's functions, stdlib only.

Every `Api` event of the template becomes a route. A request is matched against the routes' path
templates (`{param}` is one segment, `{param+}` the rest of the path), turned into the proxy event
API Gateway sends (resource, path, httpMethod, headers and multiValueHeaders, query strings,
pathParameters, body, requestContext with the stage and the IAM identity that signed it), handed to
the function in this process, and the function's proxy response is turned back into HTTP. Every route
has AWS_IAM authorization, as the template's API: the request's SigV4 signature is verified with the
signer's secret (local_stack/sigv4.py; an emulated IAM user's access key or a role session's
credentials) and the signer is the caller the function sees. What API Gateway itself answers is
imitated too, shaped by the template's `GatewayResponses`: 403 MISSING_AUTHENTICATION_TOKEN for any
path or method no route declares (what a REST API says for both) and for an unsigned request, 403
INVALID_SIGNATURE or EXPIRED_TOKEN for a signature that does not verify, 413 REQUEST_TOO_LARGE past
10 MB, 502 (DEFAULT_5XX) when the function fails or answers something that is not a proxy response,
504 INTEGRATION_TIMEOUT past the 29 s integration timeout, 400 (DEFAULT_4XX) for an unreadable request.

Like Lambda, concurrent requests to one function run at once, each in its own execution environment
(a separate import of the handler module: Powertools' resolvers keep the current event on a module-level
object), reused when idle. Errors http.server detects itself (an over-long request line, too many or
too long headers) are answered as API Gateway's refusals are, in JSON, never as an HTML page.
Paths are served both bare (`/items`, as `sam local start-api` does) and under the stage (`/v1/items`,
as in the deployed URL); the `Location` headers the service answers with carry the stage.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

from local_stack._patch import Lifecycle
from local_stack.api_reference import ApiReference
from local_stack.lambdas import ExecutionEnvironments, InvocationResult, LambdaFunction
from local_stack.sigv4 import Credentials, MotoCredentials, Refusal, Signer, verify
from local_stack.stack import DeployedStack
from local_stack.template import ApiRoute, TemplateValue

DEFAULT_PORT = 3000
INTEGRATION_TIMEOUT_SECONDS = 29.0
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
IMPLICIT_API_STAGE = "Prod"  # SAM's implicit ServerlessRestApi
LOCAL_CALLER_NAME = "local-developer"
ANY_METHOD = "ANY"

_TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "application/yaml",
        "application/x-yaml",
        "application/problem+json",
    }
)
_HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PARAMETER = re.compile(r"\{([^{}]+?)(\+?)\}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Route:
    """One method on one resource path of one API stage, served by `function`."""

    method: str
    resource: str
    function: LambdaFunction
    function_id: str
    stage: str
    api_id: str
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    parameter_names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names: list[str] = []
        regex: list[str] = []
        position = 0
        for match in _PARAMETER.finditer(self.resource):
            regex.append(re.escape(self.resource[position : match.start()]))
            regex.append("(.+)" if match.group(2) else "([^/]+)")
            names.append(match.group(1))
            position = match.end()
        regex.append(re.escape(self.resource[position:]))
        object.__setattr__(self, "pattern", re.compile("".join(regex)))
        object.__setattr__(self, "parameter_names", tuple(names))

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: static paths before parameters, single-segment parameters before greedy ones."""
        greedy = sum(1 for m in _PARAMETER.finditer(self.resource) if m.group(2))
        return (len(self.parameter_names), greedy)


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path: str
    path_parameters: Mapping[str, str]


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Caller:
    """The IAM identity API Gateway reports for a SigV4-signed request (requestContext.identity)."""

    user_arn: str
    caller: str
    access_key: str
    account_id: str

    @classmethod
    def of(cls, signer: Signer) -> Caller:
        return cls(signer.user_arn, signer.caller, signer.access_key, signer.account_id)


@dataclass(frozen=True)
class GatewayResponse:
    """How API Gateway answers a request it refuses itself (a `GatewayResponses` entry of the template)."""

    status: int
    message: str
    error_type: str
    headers: tuple[tuple[str, str], ...] = ()
    template: str | None = None

    def render(
        self,
        *,
        response_type: str,
        request_id: str,
        path: str,
        message: str | None = None,
        error_type: str | None = None,
    ) -> HttpResponse:
        message = message or self.message
        if self.template is None:
            body = json.dumps({"message": message})
        else:
            body = self.template
            for variable, value in (
                ("$context.error.messageString", json.dumps(message)),
                ("$context.error.message", _json_text(message)),
                ("$context.error.responseType", response_type),
                ("$context.requestId", request_id),
                ("$context.path", _json_text(path)),
            ):
                body = body.replace(variable, value)
        headers = [("Content-Type", "application/json"), *self.headers]
        headers = [
            (name, value)
            for index, (name, value) in enumerate(headers)
            if not any(later.lower() == name.lower() for later, _ in headers[index + 1 :])
        ]
        headers += [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", error_type or self.error_type)]
        return HttpResponse(self.status, headers, body.encode())


# What API Gateway answers by default for the situations the local gateway imitates.
DEFAULT_GATEWAY_RESPONSES: Mapping[str, GatewayResponse] = {
    "MISSING_AUTHENTICATION_TOKEN": GatewayResponse(
        403, "Missing Authentication Token", "MissingAuthenticationTokenException"
    ),
    # SigV4 refusals name their own message and error type (local_stack/sigv4.py).
    "INVALID_SIGNATURE": GatewayResponse(403, "Invalid signature", "InvalidSignatureException"),
    "EXPIRED_TOKEN": GatewayResponse(
        403, "The security token included in the request is expired", "ExpiredTokenException"
    ),
    "REQUEST_TOO_LARGE": GatewayResponse(413, "Request Too Long", "RequestTooLongException"),
    "INTEGRATION_TIMEOUT": GatewayResponse(504, "Endpoint request timed out", "IntegrationTimeoutException"),
    "DEFAULT_4XX": GatewayResponse(400, "Bad Request", "BadRequestException"),
    # A function error or a malformed proxy answer (API Gateway has no response type of its own for it).
    "DEFAULT_5XX": GatewayResponse(502, "Internal server error", "InternalServerErrorException"),
}


def gateway_responses(customised: Mapping[str, Any]) -> dict[str, GatewayResponse]:
    """The defaults with a template's `GatewayResponses` applied (SAM's shape: StatusCode,
    ResponseParameters.Headers with quoted static values, ResponseTemplates by media type); a type
    the template does not name takes DEFAULT_4XX's or DEFAULT_5XX's customisation, as in API Gateway."""
    answers: dict[str, GatewayResponse] = {}
    for response_type, default in DEFAULT_GATEWAY_RESPONSES.items():
        family = "DEFAULT_4XX" if default.status < HTTPStatus.INTERNAL_SERVER_ERROR else "DEFAULT_5XX"
        custom = customised.get(response_type) or customised.get(family)
        if not isinstance(custom, Mapping):
            answers[response_type] = default
            continue
        headers = (custom.get("ResponseParameters") or {}).get("Headers") or {}
        templates = custom.get("ResponseTemplates") or {}
        answers[response_type] = GatewayResponse(
            status=int(custom.get("StatusCode") or default.status),
            message=default.message,
            error_type=default.error_type,
            headers=tuple(
                (str(name), str(value)[1:-1])
                for name, value in headers.items()
                if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'"
            ),
            template=templates.get("application/json"),
        )
    return answers


def _json_text(value: str) -> str:
    return json.dumps(value)[1:-1]


class RouteTable:
    """Finds the route of a request the way API Gateway does: the most specific resource whose path
    matches, then the method on that resource (ANY when it has no method of that name)."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(sorted(routes, key=lambda route: route.specificity))

    def match(self, method: str, path: str) -> RouteMatch | None:
        path = _normalise(path)
        for route in self.routes:
            for candidate in _candidates(path, route.stage):
                found = route.pattern.fullmatch(candidate)
                if found is None:
                    continue
                chosen = self._method(route, method.upper())
                if chosen is None:
                    return None
                values = found.groups()
                parameters = {name: unquote(value) for name, value in zip(chosen.parameter_names, values, strict=True)}
                return RouteMatch(chosen, candidate, parameters)
        return None

    def _method(self, resource: Route, method: str) -> Route | None:
        key = (resource.api_id, resource.stage, resource.resource)
        same = [route for route in self.routes if (route.api_id, route.stage, route.resource) == key]
        for wanted in (method, ANY_METHOD):
            for route in same:
                if route.method == wanted:
                    return route
        return None


def routes_from_stack(stack: DeployedStack) -> list[Route]:
    """The REST API routes of a deployed template, each with its API's resolved stage."""
    resolver = stack.resolver()
    routes: list[Route] = []
    for route in stack.routes:
        if route.event_type != "Api":
            print(
                f"local_stack: {route.function}.{route.event} is an {route.event_type} event; skipped", file=sys.stderr
            )
            continue
        routes.append(_route(stack, resolver.resolve, route))
    return routes


def gateway_responses_from_stack(stack: DeployedStack) -> dict[str, GatewayResponse]:
    """The gateway responses of the template's REST API (the first `AWS::Serverless::Api` that has any)."""
    resolve = stack.resolver().resolve
    for resource in stack.template.resources.values():
        if resource.type == "AWS::Serverless::Api" and "GatewayResponses" in resource.properties:
            customised = resolve(resource.properties["GatewayResponses"])
            if isinstance(customised, Mapping):
                return gateway_responses(customised)
    return dict(DEFAULT_GATEWAY_RESPONSES)


def _route(stack: DeployedStack, resolve: Callable[[TemplateValue], TemplateValue], route: ApiRoute) -> Route:
    stage = IMPLICIT_API_STAGE
    api_id = _short_id(f"{stack.name_prefix}ServerlessRestApi")
    if route.api is not None and route.api in stack.template.resources:
        properties = stack.template.resources[route.api].properties
        if "StageName" in properties:
            stage = str(resolve(properties["StageName"]))
        api_id = stack.ref(route.api)
    return Route(
        method=route.method.upper(),
        resource=route.path,
        function=stack.functions[route.function],
        function_id=route.function,
        stage=stage,
        api_id=api_id,
    )


def build_event(
    match: RouteMatch,
    request: HttpRequest,
    *,
    account_id: str,
    caller: Caller,
    request_id: str,
    now: datetime,
    domain_name: str,
) -> dict[str, Any]:
    """The Lambda proxy event API Gateway's REST API sends for `request`."""
    route = match.route
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        key = next((known for known in multi_headers if known.lower() == name.lower()), name)
        multi_headers.setdefault(key, []).append(value)
        headers[key] = value
    query = urlsplit(request.target).query
    pairs = parse_qsl(query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in pairs:
        multi_query.setdefault(name, []).append(value)
    body, is_base64 = encode_body(request.body, headers_get(headers, "Content-Type"))
    epoch_ms = int(now.timestamp() * 1000)
    return {
        "resource": route.resource,
        "path": match.path,
        "httpMethod": request.method.upper(),
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(match.path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": _short_id(f"{route.api_id}{route.resource}")[:6],
            "resourcePath": route.resource,
            "httpMethod": request.method.upper(),
            "extendedRequestId": base64.b64encode(secrets.token_bytes(12)).decode(),
            "requestTime": _request_time(now),
            "path": f"/{route.stage}{match.path}",
            "accountId": account_id,
            "protocol": request.protocol,
            "stage": route.stage,
            "domainPrefix": domain_name.split(".", 1)[0].split(":", 1)[0],
            "requestTimeEpoch": epoch_ms,
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": caller.account_id,
                "cognitoIdentityId": None,
                "caller": caller.caller,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": caller.access_key,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": caller.user_arn,
                "userAgent": headers_get(headers, "User-Agent"),
                "user": caller.caller,
            },
            "domainName": domain_name,
            "apiId": route.api_id,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def encode_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """The event's `body` and `isBase64Encoded`: text bodies as they are, anything else in base64.

    Text is a textual media type (text/*, JSON, XML, form data...) in valid UTF-8; a body without a
    Content-Type is text if it is UTF-8 without control characters."""
    if not body:
        return None, False
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    textual = (
        media_type.startswith("text/") or media_type in _TEXT_MEDIA_TYPES or media_type.endswith(("+json", "+xml"))
    )
    if textual or not media_type:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if textual or not _CONTROL.search(text):
                return text, False
    return base64.b64encode(body).decode("ascii"), True


def proxy_response(
    result: InvocationResult, request_id: str, responses: Mapping[str, GatewayResponse] | None = None, path: str = "/"
) -> HttpResponse:
    """The HTTP answer for a function's outcome, as API Gateway's Lambda proxy integration gives it."""
    if result.function_error:
        return gateway_error("DEFAULT_5XX", request_id, responses, path)
    try:
        answer = json.loads(result.payload)
        status, headers, body = _parse_proxy_answer(answer)
    except (ValueError, TypeError) as exc:
        print(f"local_stack: malformed Lambda proxy response ({exc}): {result.payload[:200]!r}", file=sys.stderr)
        return gateway_error("DEFAULT_5XX", request_id, responses, path)
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    return HttpResponse(status, headers, body)


def gateway_error(
    response_type: str,
    request_id: str,
    responses: Mapping[str, GatewayResponse] | None = None,
    path: str = "/",
    refusal: Refusal | None = None,
) -> HttpResponse:
    """An answer API Gateway gives on its own: `{"message": ...}` unless the template customises it."""
    answer = (responses or DEFAULT_GATEWAY_RESPONSES).get(response_type) or DEFAULT_GATEWAY_RESPONSES[response_type]
    return answer.render(
        response_type=response_type,
        request_id=request_id,
        path=path,
        message=refusal.message if refusal else None,
        error_type=refusal.error_type if refusal else None,
    )


def _parse_proxy_answer(answer: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    if not isinstance(answer, dict):
        raise TypeError("the response is not a JSON object")
    status = answer.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    merged: list[tuple[str, str]] = []
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise TypeError(f"multiValueHeaders[{name!r}] is not a list")
        merged.extend((str(name), _header_value(value)) for value in values)
    for name, value in (answer.get("headers") or {}).items():
        pair = (str(name), _header_value(value))
        if not any(key.lower() == pair[0].lower() and existing == pair[1] for key, existing in merged):
            merged.append(pair)
    merged = [(name, value) for name, value in merged if name.lower() not in _HOP_BY_HOP]
    body = answer.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise TypeError("body is not a string")
    elif answer.get("isBase64Encoded"):
        payload = base64.b64decode(body, validate=True)
    else:
        payload = body.encode("utf-8")
    return status, merged, payload


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"header value {value!r} is not a string")


def headers_get(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


class ApiGateway:
    """Turns HTTP requests into function invocations; the HTTP server around it is `ApiGatewayServer`."""

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        account_id: str,
        credentials: Credentials,
        region: str = "us-east-1",
        responses: Mapping[str, GatewayResponse] | None = None,
        reference: ApiReference | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.table = RouteTable(routes)
        self.reference = reference
        self.account_id = account_id
        self.credentials = credentials
        self.region = region
        self.clock = clock
        self.responses = dict(responses or DEFAULT_GATEWAY_RESPONSES)
        self._environments: dict[str, ExecutionEnvironments] = {}
        self._environments_guard = threading.Lock()

    def refuse(
        self, response_type: str, target: str, request_id: str | None = None, refusal: Refusal | None = None
    ) -> HttpResponse:
        """API Gateway's own answer of `response_type` to a request for `target`."""
        path = urlsplit(target).path or "/"
        return gateway_error(response_type, request_id or str(uuid.uuid4()), self.responses, path, refusal)

    def handle(self, request: HttpRequest, *, domain_name: str) -> tuple[HttpResponse, Route | None]:
        request_id = str(uuid.uuid4())
        path = urlsplit(request.target).path or "/"
        document = self.reference.answer(request.method.upper(), path) if self.reference else None
        if document is not None:
            headers = [("Content-Type", document.content_type), ("x-amzn-RequestId", request_id)]
            return HttpResponse(document.status, headers, document.body), None
        match = self.table.match(request.method, path)
        if match is None:
            return self.refuse("MISSING_AUTHENTICATION_TOKEN", request.target, request_id), None
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return self.refuse("REQUEST_TOO_LARGE", request.target, request_id), match.route
        now = self.clock()
        signer = verify(
            request.method,
            request.target,
            request.headers,
            request.body,
            region=self.region,
            now=now,
            credentials=self.credentials,
        )
        if isinstance(signer, Refusal):
            return self.refuse(signer.response_type, request.target, request_id, signer), match.route
        event = build_event(
            match,
            request,
            account_id=self.account_id,
            caller=Caller.of(signer),
            request_id=request_id,
            now=now,
            domain_name=domain_name,
        )
        started = time.monotonic()
        result = self.environments(match.route.function).invoke(event)
        if time.monotonic() - started > INTEGRATION_TIMEOUT_SECONDS:
            return self.refuse("INTEGRATION_TIMEOUT", request.target, request_id), match.route
        return proxy_response(result, request_id, self.responses, path), match.route

    def environments(self, function: LambdaFunction) -> ExecutionEnvironments:
        """The function's execution environments (requests to one function run concurrently, as in Lambda)."""
        with self._environments_guard:
            return self._environments.setdefault(function.arn, ExecutionEnvironments(function))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The listen backlog (socketserver's default is 5): a burst of connections queues instead of being reset.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: ApiGateway, log: TextIO | None) -> None:
        self.gateway = gateway
        self.log = log
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "local_stack-apigateway"
    timeout = 60

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET  # noqa: N815

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY, made-up ones) gets API Gateway's answer, not http.server's 501 page.
        if name.startswith("do_"):
            return self.do_GET
        raise AttributeError(name)

    def _dispatch(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        started = time.monotonic()
        try:
            body = self._read_body()
        except ValueError as exc:
            print(f"local_stack: unreadable request body ({exc})", file=sys.stderr)
            self._send(server.gateway.refuse("DEFAULT_4XX", self.path))
            self.close_connection = True
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        host = self.headers.get("Host") or f"{server.server_name}:{server.server_port}"
        response, route = server.gateway.handle(request, domain_name=host)
        self._send(response)
        if server.log is not None:
            target = route.function_id if route is not None else "no route"
            elapsed_ms = (time.monotonic() - started) * 1000
            print(
                f"{self.command} {self.path} -> {target} {response.status} ({elapsed_ms:.0f} ms)",
                file=server.log,
                flush=True,
            )

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (414 URI too long, 431 headers too large, 400 malformed, 505) as
        the gateway's refusal document with http.server's status, not its HTML page."""
        server = self.server
        assert isinstance(server, _Server)
        status = HTTPStatus(code)
        target = getattr(self, "path", None) or "/"
        if len(target) > 1024:
            target = "/"
        refusal = server.gateway.refuse("DEFAULT_4XX", target)
        body = refusal.body
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict):
            for key, value in (("status", code), ("title", status.phrase), ("detail", explain or message)):
                if key in document and value is not None:
                    document[key] = value
            body = json.dumps(document).encode()
        headers = [(name, value) for name, value in refusal.headers if name.lower() != "connection"]
        self.close_connection = True
        self._send(HttpResponse(code, [*headers, ("Connection", "close")], body))

    def _send(self, response: HttpResponse) -> None:
        self.send_response_only(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Date", self.date_time_string())
        self.end_headers()
        if self.command != "HEAD" and response.status not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.wfile.write(response.body)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit():
            raise ValueError(f"bad Content-Length {length!r}")
        return self.rfile.read(int(length))

    def log_message(self, format: str, *args: Any) -> None:
        server = self.server
        if isinstance(server, _Server) and server.log is not None:
            print(f"{self.address_string()} - {format % args}", file=server.log, flush=True)


class ApiGatewayServer(Lifecycle):
    """`ApiGateway` on a ThreadingHTTPServer: `with ApiGatewayServer.from_stack(stack, port=0) as api: api.url`."""

    def __init__(
        self, gateway: ApiGateway, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, log: TextIO | None = None
    ) -> None:
        self.gateway = gateway
        self.host = host
        self.port = port
        self.log = log
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_stack(
        cls,
        stack: DeployedStack,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        credentials: Credentials | None = None,
        log: TextIO | None = None,
    ) -> ApiGatewayServer:
        gateway = ApiGateway(
            routes_from_stack(stack),
            account_id=stack.account_id,
            credentials=credentials or MotoCredentials(stack.role_arn.split(":")[1]),
            region=stack.region,
            responses=gateway_responses_from_stack(stack),
            reference=_reference_for(stack),
        )
        return cls(gateway, host=host, port=port, log=log)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        server = _Server((self.host, self.port), self.gateway, self.log)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _reference_for(stack: DeployedStack) -> ApiReference | None:
    """The interactive reference at /docs, when the template has an openapi.json beside it."""
    openapi = stack.template.path.parent / "openapi.json"
    return ApiReference(openapi) if openapi.is_file() else None


def _normalise(path: str) -> str:
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path if path.startswith("/") else f"/{path}"


def _candidates(path: str, stage: str) -> list[str]:
    """The path as it is, and without a leading `/<stage>` (the deployed URL's form)."""
    prefix = f"/{stage}"
    if path == prefix:
        return [path, "/"]
    if path.startswith(f"{prefix}/"):
        return [path, path[len(prefix) :]]
    return [path]


def _request_time(now: datetime) -> str:
    now = now.astimezone(UTC)
    return f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000"


def _short_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:10]
