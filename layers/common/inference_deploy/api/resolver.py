"""The API resolver: request validation on, every error answered as application/problem+json.

This is the only place that knows HTTP status codes for domain errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from inference_deploy.errors import (
    ConfigurationError,
    DomainError,
    ExecutionStartFailed,
    IdempotencyKeyReused,
    ModelBusy,
    ModelHasNoTasks,
    ModelNotServed,
    RequestInProgress,
    StoreUnavailable,
    TaskConflict,
    TaskNotFound,
    WorkflowServiceUnavailable,
)
from inference_deploy.models.problem import PROBLEM_CONTENT_TYPE, FieldError, Problem
from inference_deploy.observability import logger

MAX_BODY_BYTES = 16 * 1024
_METHODS_WITH_BODY = {"POST", "PUT", "PATCH"}
JSON_ONLY = "request bodies must be application/json"
RETRY_AFTER_SECONDS = "2"

_STATUS: dict[type[DomainError], HTTPStatus] = {
    TaskNotFound: HTTPStatus.NOT_FOUND,
    ModelHasNoTasks: HTTPStatus.NOT_FOUND,
    ModelNotServed: HTTPStatus.NOT_FOUND,
    TaskConflict: HTTPStatus.CONFLICT,
    ModelBusy: HTTPStatus.CONFLICT,
    RequestInProgress: HTTPStatus.CONFLICT,
    IdempotencyKeyReused: HTTPStatus.UNPROCESSABLE_ENTITY,
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


def _refused_before_routing(event: Mapping[str, Any]) -> tuple[HTTPStatus, str, str] | None:
    """Bodies the API never reads: too large (before anything parses them), or not JSON (the resolver
    would otherwise parse form and multipart bodies into the same request models)."""
    body = event.get("body")
    if isinstance(body, str) and len(body.encode("utf-8", errors="surrogatepass")) > MAX_BODY_BYTES:
        limit = f"request bodies are limited to {MAX_BODY_BYTES} bytes"
        return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large", limit
    content_type = _header(event, "content-type")
    if event.get("httpMethod") in _METHODS_WITH_BODY and content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in ("application/json", ""):
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", JSON_ONLY
    return None


class ApiResolver(APIGatewayRestResolver):
    """The REST resolver with guards that run before request validation reads the body."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        refused = _refused_before_routing(event)
        if refused is None:
            return super().resolve(event, context)
        status, code, detail = refused
        problem = Problem(
            type=Problem.type_for(code),
            title=status.phrase,
            status=status,
            detail=detail,
            code=code,
            instance=event.get("path"),
            request_id=(event.get("requestContext") or {}).get("requestId"),
        )
        return {
            "statusCode": int(status),
            "multiValueHeaders": {"Content-Type": [PROBLEM_CONTENT_TYPE]},
            "body": problem.model_dump_json(exclude_none=True),
            "isBase64Encoded": False,
        }


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
                detail="the request body is not valid JSON",
                errors=[FieldError(location="body", message=f"{reason} at character {where[-1] if where else 0}")],
            )
        return problem_response(
            app,
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
            code="validation_error",
            detail="the request does not match the API contract",
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
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            logger.error("request failed", extra={"error_code": exc.code, "error": exc.message})
        return problem_response(
            app,
            status=status,
            code=exc.code,
            # 500s say nothing of internals; 503s say what to retry.
            detail=exc.message if status < HTTPStatus.INTERNAL_SERVER_ERROR or retryable else "internal error",
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
    400: "Malformed JSON body",
    404: "No such task, no task of this kind for the model, or the model is not served",
    409: "Another task of this model is still active",
    413: "Request body too large",
    415: "Request body is not application/json",
    422: "The request does not match the contract (field errors listed)",
    500: "Internal error",
    503: "A dependency is unavailable; retry after the Retry-After delay",
}


def problem_responses(*codes: int) -> dict[int, Any]:
    """OpenAPI `responses` entries for the problem bodies a route can answer with."""
    return {
        code: {
            "description": _PROBLEM_DESCRIPTIONS[code],
            "content": {PROBLEM_CONTENT_TYPE: {"model": Problem}},
        }
        for code in codes
    }
