"""The API resolver: request validation on, every error answered as application/problem+json.

This is the only place that knows HTTP status codes for domain errors.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from inference_deploy.errors import (
    AlarmsNotAllowed,
    AuthorizationUnavailable,
    CapacityDrop,
    CloudWatchUnavailable,
    ConfigurationError,
    CostLimitExceeded,
    DomainError,
    ExecutionStartFailed,
    Forbidden,
    IdempotencyKeyReused,
    InvalidPageToken,
    ModelBusy,
    ModelHasNoTasks,
    ModelNotFound,
    ModelNotServed,
    RequestInProgress,
    SageMakerThrottled,
    StoreUnavailable,
    TaskConflict,
    TaskNotFound,
    UnknownAlarms,
    WorkflowServiceUnavailable,
)
from inference_deploy.models.problem import PROBLEM_CONTENT_TYPE, FieldError, Problem
from inference_deploy.observability import logger

MAX_BODY_BYTES = 16 * 1024
_METHODS_WITH_BODY = {"POST", "PUT", "PATCH"}
JSON_ONLY = "request bodies must be application/json"
NOT_JSON = "the request body is not valid JSON"
CONTRACT = "the request does not match the API contract"
TOO_LARGE = f"request bodies are limited to {MAX_BODY_BYTES} bytes"
RETRY_AFTER_SECONDS = "2"
RETRY_LATER = "a service this API depends on is unavailable; retry after the Retry-After delay"
_SERVER_DETAILS = {
    "store_unavailable": "the service's data store is unavailable; retry after the Retry-After delay",
    "execution_start_failed": "the workflow could not be started and nothing was recorded; "
    "retry after the Retry-After delay",
    "workflow_service_unavailable": "the workflow service is unavailable; retry after the Retry-After delay",
    "authorization_unavailable": "the caller's or the model's owner tag could not be read; "
    "retry after the Retry-After delay",
    "cloudwatch_unavailable": "CloudWatch is unavailable; retry after the Retry-After delay",
    "sagemaker_throttled": "SageMaker could not be asked for blue's instance count; retry after the Retry-After delay",
}

_STATUS: dict[type[DomainError], HTTPStatus] = {
    TaskNotFound: HTTPStatus.NOT_FOUND,
    InvalidPageToken: HTTPStatus.BAD_REQUEST,
    ModelHasNoTasks: HTTPStatus.NOT_FOUND,
    ModelNotServed: HTTPStatus.NOT_FOUND,
    ModelNotFound: HTTPStatus.NOT_FOUND,
    TaskConflict: HTTPStatus.CONFLICT,
    ModelBusy: HTTPStatus.CONFLICT,
    RequestInProgress: HTTPStatus.CONFLICT,
    IdempotencyKeyReused: HTTPStatus.UNPROCESSABLE_ENTITY,
    CostLimitExceeded: HTTPStatus.UNPROCESSABLE_ENTITY,
    CapacityDrop: HTTPStatus.UNPROCESSABLE_ENTITY,
    SageMakerThrottled: HTTPStatus.SERVICE_UNAVAILABLE,
    Forbidden: HTTPStatus.FORBIDDEN,
    AuthorizationUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    UnknownAlarms: HTTPStatus.UNPROCESSABLE_ENTITY,
    AlarmsNotAllowed: HTTPStatus.UNPROCESSABLE_ENTITY,
    CloudWatchUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    WorkflowServiceUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    ExecutionStartFailed: HTTPStatus.SERVICE_UNAVAILABLE,
    StoreUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    ConfigurationError: HTTPStatus.INTERNAL_SERVER_ERROR,
}


def status_for(error: DomainError) -> HTTPStatus:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return HTTPStatus.INTERNAL_SERVER_ERROR


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def problem_response(
    app: APIGatewayRestResolver,
    *,
    status: HTTPStatus,
    code: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[str]:
    event = app.current_event
    problem = Problem(
        type=Problem.type_for(code),
        title=status.phrase,
        status=int(status),
        detail=detail,
        code=code,
        instance=event.path if event else None,
        request_id=event.request_context.request_id if event else None,
        errors=errors,
        **extra,
    )
    return Response(
        status_code=int(status),
        content_type=PROBLEM_CONTENT_TYPE,
        body=problem.model_dump_json(exclude_none=True),
        headers=headers,
    )


def _header(event: Mapping[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name and isinstance(value, str):
            return value
    return None


class Refused(Exception):
    """A request answered before routing: its body is never handed to request validation."""

    def __init__(self, status: HTTPStatus, code: str, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors


def checked_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event with its body decoded for validation, or Refused for the bodies the API never reads.

    Too large (before anything parses it); not JSON (the resolver would otherwise parse form and
    multipart bodies into the same request models); not UTF-8, nested past the parser's depth, integers
    past Python's digit limit (each would escape Powertools' own JSON error handling as a 500); and JSON
    that is not an object (Powertools would take an array's first element as the body).
    """
    body = event.get("body")
    if isinstance(body, str) and len(body.encode("utf-8", errors="surrogatepass")) > _max_encoded(event):
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large", TOO_LARGE)
    if event.get("httpMethod") not in _METHODS_WITH_BODY:
        return dict(event)
    content_type = _header(event, "content-type")
    media_type, _, parameters = (content_type or "").partition(";")
    if media_type.strip().lower() not in ("application/json", ""):
        raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", JSON_ONLY)
    if not isinstance(body, str) or not body:
        return dict(event)
    text = _json_object_text(body, base64_encoded=bool(event.get("isBase64Encoded")))
    decoded = {**event, "body": text, "isBase64Encoded": False}
    if content_type is not None:
        # Media types are case-insensitive; Powertools compares them as written.
        normal = f"application/json{';' if parameters else ''}{parameters}"
        decoded["headers"] = _with_content_type(event.get("headers"), normal)
        if event.get("multiValueHeaders"):
            decoded["multiValueHeaders"] = _with_content_type(event["multiValueHeaders"], [normal])
    return decoded


def _json_object_text(body: str, *, base64_encoded: bool) -> str:
    try:
        raw = base64.b64decode(body, validate=True) if base64_encoded else body.encode("utf-8")
    except UnicodeEncodeError:
        raise _malformed("the body is not UTF-8") from None
    except (binascii.Error, ValueError):
        raise _malformed("the body is flagged base64 but is not valid base64") from None
    if len(raw) > MAX_BODY_BYTES:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large", TOO_LARGE)
    try:
        text = raw.decode("utf-8")
        parsed = json.loads(text)
    except UnicodeDecodeError as exc:
        raise _malformed(f"the body is not UTF-8 (invalid byte at position {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _malformed(f"{exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise _malformed("the body nests arrays or objects too deeply") from None
    except ValueError:
        raise _malformed("the body holds a number too long to parse") from None
    if not isinstance(parsed, dict):
        message = f"the body must be a JSON object, not {_JSON_TYPES.get(type(parsed), 'a value')}"
        raise Refused(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "validation_error",
            CONTRACT,
            [FieldError(location="body", message=message)],
        )
    return text


def _max_encoded(event: Mapping[str, Any]) -> int:
    # base64 grows a body by a third: compare the decoded size once the body is decoded.
    return MAX_BODY_BYTES * 4 // 3 + 4 if event.get("isBase64Encoded") else MAX_BODY_BYTES


def _with_content_type[V](headers: Mapping[str, V] | None, value: V) -> dict[str, V]:
    kept = {key: v for key, v in (headers or {}).items() if key.lower() != "content-type"}
    return {**kept, "Content-Type": value}


def _malformed(message: str) -> Refused:
    return Refused(HTTPStatus.BAD_REQUEST, "malformed_json", NOT_JSON, [FieldError(location="body", message=message)])


_JSON_TYPES: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}
_JSON_TYPES[type(None)] = "null"


_CURRENT_EVENT: ContextVar[APIGatewayProxyEvent] = ContextVar("current_event")
_LAMBDA_CONTEXT: ContextVar[LambdaContext] = ContextVar("lambda_context")


class ApiResolver(APIGatewayRestResolver):
    """The REST resolver with guards that run before request validation reads the body.

    Powertools keeps the current event and Lambda context on BaseRouter's class, shared by every resolver
    in the process; this one reads its own from context variables, so requests served concurrently in
    one process (the local gateway runs concurrent requests in threads) never see each other's event.
    In Lambda, one request per environment at a time, the two are the same."""

    @property  # type: ignore[override]
    def current_event(self) -> APIGatewayProxyEvent:
        return _CURRENT_EVENT.get()

    @current_event.setter
    def current_event(self, event: APIGatewayProxyEvent) -> None:
        _CURRENT_EVENT.set(event)

    @property
    def lambda_context(self) -> LambdaContext:
        return _LAMBDA_CONTEXT.get()

    @lambda_context.setter
    def lambda_context(self, context: LambdaContext) -> None:
        _LAMBDA_CONTEXT.set(context)

    def _to_proxy_event(self, event: dict[str, Any]) -> APIGatewayProxyEvent:
        proxy = super()._to_proxy_event(event)
        assert isinstance(proxy, APIGatewayProxyEvent)
        _CURRENT_EVENT.set(proxy)
        return proxy

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        _LAMBDA_CONTEXT.set(context)
        try:
            checked = checked_event(event)
        except Refused as refused:
            problem = Problem(
                type=Problem.type_for(refused.code),
                title=refused.status.phrase,
                status=refused.status,
                detail=refused.detail,
                code=refused.code,
                instance=event.get("path"),
                request_id=(event.get("requestContext") or {}).get("requestId"),
                errors=refused.errors,
            )
            return {
                "statusCode": int(refused.status),
                "multiValueHeaders": {"Content-Type": [PROBLEM_CONTENT_TYPE]},
                "body": problem.model_dump_json(exclude_none=True),
                "isBase64Encoded": False,
            }
        return super().resolve(checked, context)


def build_resolver() -> ApiResolver:
    app = ApiResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response[str]:
        invalid_json = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if invalid_json:
            where = invalid_json[0].get("loc", ())
            reason = invalid_json[0].get("ctx", {}).get("error", "invalid JSON")
            return problem_response(
                app,
                status=HTTPStatus.BAD_REQUEST,
                code="malformed_json",
                detail=NOT_JSON,
                errors=[FieldError(location="body", message=f"{reason} at character {where[-1] if where else 0}")],
            )
        return problem_response(
            app,
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
            code="validation_error",
            detail=CONTRACT,
            errors=[
                FieldError(location=_location(e.get("loc", ())), message=str(e.get("msg", "invalid")))
                for e in exc.errors()
            ],
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_media_type(exc: RequestUnsupportedContentType) -> Response[str]:
        return problem_response(
            app,
            status=HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            code="unsupported_media_type",
            detail=JSON_ONLY,
        )

    @app.exception_handler(DomainError)
    def _domain_error(exc: DomainError) -> Response[str]:
        status = status_for(exc)
        retryable = status == HTTPStatus.SERVICE_UNAVAILABLE or isinstance(exc, RequestInProgress)
        detail = exc.message
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            # The message may quote AWS (ARNs, table names): it goes to the log, the caller gets our words.
            logger.error("request failed", extra={"error_code": exc.code, "error": exc.message})
            detail = _SERVER_DETAILS.get(exc.code, RETRY_LATER if retryable else "internal error")
        return problem_response(
            app,
            status=status,
            code=exc.code,
            detail=detail,
            headers={"Retry-After": RETRY_AFTER_SECONDS} if retryable else None,
            **exc.problem_fields(),
        )

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return problem_response(
            app, status=HTTPStatus.INTERNAL_SERVER_ERROR, code="internal_error", detail="internal error"
        )

    @app.not_found
    def _no_route(exc: Exception) -> Response[str]:
        return problem_response(app, status=HTTPStatus.NOT_FOUND, code="route_not_found", detail="no such route")

    return app


_PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON body, or a next_token this API did not issue for this model and kind",
    403: "Not allowed: API Gateway refused the caller, or the caller may not act on this model "
    "(the owner tag named in tag_key does not match, and the caller is no admin)",
    404: "No such task, no task of this kind for the model, or the model is not served",
    409: "Another task of this model is still active, this Idempotency-Key is in use, or the task cannot be cancelled",
    413: "Request body too large",
    415: "Request body is not application/json",
    422: "The request does not match the contract (field errors listed), asks for more than the stack's "
    "cost limits allow, names alarms that do not exist, or fewer instances than blue serves with (capacity_drop)",
    500: "Internal error",
    503: "A dependency is unavailable; retry after the Retry-After delay",
}
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}
# What the resolver itself answers: on every route, and on routes with a body.
_EVERY_ROUTE = {HTTPStatus.INTERNAL_SERVER_ERROR: ["internal_error", ConfigurationError.code]}
_BODY_ROUTES = {
    HTTPStatus.BAD_REQUEST: ["malformed_json"],
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: ["body_too_large"],
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: ["unsupported_media_type"],
    HTTPStatus.UNPROCESSABLE_ENTITY: ["validation_error"],
}


def problem_schema(codes: Sequence[str]) -> dict[str, Any]:
    """A Problem whose `code` is one of `codes`."""
    return {
        "allOf": [
            {"$ref": PROBLEM_SCHEMA_REF},
            {"type": "object", "properties": {"code": {"type": "string", "enum": sorted(set(codes))}}},
        ]
    }


def problem_doc(status: int, codes: Sequence[str], description: str) -> dict[str, Any]:
    """One OpenAPI response entry: a problem body with one of `codes`, and Retry-After where it is sent."""
    entry: dict[str, Any] = {
        "description": f"{description}. code: {', '.join(sorted(set(codes)))}",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": problem_schema(codes)}},
    }
    if status in (HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.TOO_MANY_REQUESTS):
        entry["headers"] = {"Retry-After": {**RETRY_AFTER_HEADER, "required": True}}
    elif RequestInProgress.code in codes:
        entry["headers"] = {"Retry-After": {**RETRY_AFTER_HEADER, "description": "Sent with request_in_progress."}}
    return entry


def problem_responses(*errors: type[DomainError], body: bool = False, query: bool = False) -> dict[int, Any]:
    """OpenAPI `responses` entries for every problem a route can answer with: the resolver's own (and
    those of request bodies when `body`, of validated query parameters when `query`), and the domain
    `errors` its logic raises."""
    codes: dict[int, list[str]] = {int(status): list(found) for status, found in _EVERY_ROUTE.items()}
    for status, found in (_BODY_ROUTES if body else {}).items():
        codes.setdefault(int(status), []).extend(found)
    if query:
        codes.setdefault(int(HTTPStatus.UNPROCESSABLE_ENTITY), []).append("validation_error")
    for error in errors:
        status = next((_STATUS[cls] for cls in error.__mro__ if cls in _STATUS), HTTPStatus.INTERNAL_SERVER_ERROR)
        codes.setdefault(int(status), []).append(error.code)
    return {
        status: problem_doc(status, found, _PROBLEM_DESCRIPTIONS[status]) for status, found in sorted(codes.items())
    }
