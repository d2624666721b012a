"""In-process Lambda: moto's Docker-less Lambda backend, routed to the project's own handlers.

With `{"lambda": {"use_docker": False}}` moto answers every Invoke with `LambdaSimpleBackend.invoke`,
which only echoes the payload. While a `LambdaRouter` is started, invoking one of its functions runs
the real handler in the calling thread (a Step Functions worker, a moto server request thread, or
the test itself) and answers like Lambda does: the handler's JSON result, or for an exception the
`{"errorType", "errorMessage", "stackTrace"}` payload with `X-Amz-Function-Error: Unhandled`, which
is what lets Step Functions Retry/Catch match on the exception's class name. Functions that no
router knows keep moto's behaviour.

A routed handler sees the environment Lambda would give it: its own variables from the template,
and none of the variables the template gives only to other functions, though they all share this
process: the service reads its settings through a context variable (`SETTINGS_SOURCE`) set per
invocation, not from `os.environ` (which holds every function's variables, for the libraries that read
the template's Globals). So a variable missing from a function's template definition fails locally as
it would in AWS.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda_simple.models import LambdaSimpleBackend

from local_stack._patch import Lifecycle, Method
from local_stack.handlers import Handler

LOG = logging.getLogger(__name__)

FUNCTION_VERSION = "$LATEST"


class LambdaFunction(Protocol):
    """What the router needs to know about a deployed function."""

    @property
    def name(self) -> str: ...
    @property
    def arn(self) -> str: ...
    @property
    def timeout(self) -> int: ...
    @property
    def memory_size(self) -> int: ...
    @property
    def log_group_name(self) -> str: ...
    def load_handler(self) -> Handler: ...


@runtime_checkable
class IsolatingFunction(Protocol):
    """A function that can load its handler into more than one execution environment."""

    def load_handler_in(self, environment: int) -> Handler: ...


class ExecutionEnvironments:
    """Lambda's execution environments of one function: a request takes an idle one, or a new one when
    all are busy, and gives it back when done. Each is a separate import of the handler module, so
    concurrent requests never share its module-level state (Powertools' resolver keeps the current
    event on the module's `app`); environment 0 is the module tests import and monkeypatch. The layer
    package stays shared (its module state is loggers, metrics and cached clients)."""

    def __init__(self, function: LambdaFunction) -> None:
        self.function = function
        self._idle: list[int] = []
        self._created = 0
        self._lock = threading.Lock()

    @property
    def created(self) -> int:
        with self._lock:
            return self._created

    @contextlib.contextmanager
    def environment(self) -> Iterator[int]:
        with self._lock:
            if self._idle:
                index = self._idle.pop()
            else:
                index, self._created = self._created, self._created + 1
        try:
            yield index
        finally:
            with self._lock:
                self._idle.append(index)

    def loader(self, index: int) -> Callable[[], Handler]:
        function = self.function
        if index == 0 or not isinstance(function, IsolatingFunction):
            return function.load_handler
        return lambda: function.load_handler_in(index)

    def invoke(self, event: Any, *, invoked_arn: str | None = None) -> InvocationResult:
        with self.environment() as index:
            return invoke_function(self.function, event, invoked_arn=invoked_arn, load=self.loader(index))


# The module whose context variable the service's code reads its variables from (the layer's environment.py).
SETTINGS_SOURCE = "inference_deploy.environment"


class FunctionEnvironment(Mapping[str, str]):
    """What one invocation sees: its own variables over the process's, minus other functions' variables."""

    def __init__(self, own: Mapping[str, str], hidden: frozenset[str]) -> None:
        self._own = dict(own)
        self._hidden = hidden

    def __getitem__(self, key: str) -> str:
        if key in self._own:
            return self._own[key]
        if key in self._hidden:
            raise KeyError(key)
        return os.environ[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._own
        yield from (key for key in os.environ if key not in self._own and key not in self._hidden)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _settings_source() -> ContextVar[Mapping[str, str] | None] | None:
    """The service's FUNCTION_ENVIRONMENT, or None for code that does not read it (fixture projects)."""
    try:
        module = importlib.import_module(SETTINGS_SOURCE)
    except ImportError:
        return None
    source: ContextVar[Mapping[str, str] | None] = module.FUNCTION_ENVIRONMENT
    return source


def _environment_of(function: LambdaFunction) -> dict[str, str]:
    """The function's variables (`environment`, as DeployedFunction has it; none if it has no such field)."""
    return dict(getattr(function, "environment", None) or {})


def _hidden_variables() -> frozenset[str]:
    with _registry_lock:
        return frozenset(key for function in _registry.values() for key in _environment_of(function))


class LambdaContext:
    """The attributes and method of the Python runtime's context object that handlers use."""

    def __init__(self, function: LambdaFunction, *, request_id: str, invoked_arn: str, deadline: float) -> None:
        self.function_name = function.name
        self.function_version = FUNCTION_VERSION
        self.invoked_function_arn = invoked_arn
        self.memory_limit_in_mb = function.memory_size
        self.aws_request_id = request_id
        self.log_group_name = function.log_group_name
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[{FUNCTION_VERSION}]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_current_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_function", default=None)


@contextlib.contextmanager
def running_as(function: str | None) -> Iterator[None]:
    """Run code as if inside `function` (a logical id): a test calling a handler directly, as Lambda would."""
    token = _current_function.set(function)
    try:
        yield
    finally:
        _current_function.reset(token)


def current_function() -> str | None:
    """The logical id (or name) of the function whose handler runs in this thread, if any."""
    return _current_function.get()


def _function_id(function: LambdaFunction) -> str:
    return str(getattr(function, "logical_id", function.name))


class LambdaTimeouts:
    """Make a function report `Sandbox.Timedout` after its handler ran to the end (side effects
    included), as Lambda does when the handler finishes its work just past the function's Timeout."""

    _lock = threading.Lock()
    _planned: ClassVar[dict[str, int]] = {}

    @classmethod
    def after_handler(cls, function_id: str, *, times: int = 1) -> None:
        with cls._lock:
            cls._planned[function_id] = cls._planned.get(function_id, 0) + times

    @classmethod
    def pending(cls, function_id: str) -> int:
        with cls._lock:
            return cls._planned.get(function_id, 0)

    @classmethod
    def clear(cls) -> None:
        with cls._lock:
            cls._planned.clear()

    @classmethod
    def consume(cls, function_id: str) -> bool:
        with cls._lock:
            left = cls._planned.get(function_id, 0)
            if left <= 0:
                return False
            cls._planned[function_id] = left - 1
            return True


@dataclass(frozen=True)
class InvocationResult:
    payload: bytes
    function_error: str | None = None


def invoke_function(
    function: LambdaFunction,
    event: Any,
    *,
    invoked_arn: str | None = None,
    load: Callable[[], Handler] | None = None,
) -> InvocationResult:
    """Run the handler once (`load` gives it: the function's own by default), shaping the outcome like a
    synchronous Lambda Invoke response."""
    load = load or function.load_handler
    source = _settings_source()
    if source is None:
        return _invoke(function, event, invoked_arn=invoked_arn, load=load)
    token = source.set(FunctionEnvironment(_environment_of(function), _hidden_variables()))
    try:
        return _invoke(function, event, invoked_arn=invoked_arn, load=load)
    finally:
        source.reset(token)


def _invoke(
    function: LambdaFunction, event: Any, *, invoked_arn: str | None, load: Callable[[], Handler]
) -> InvocationResult:
    request_id = str(uuid.uuid4())
    started = time.monotonic()
    context = LambdaContext(
        function, request_id=request_id, invoked_arn=invoked_arn or function.arn, deadline=started + function.timeout
    )
    try:
        handler = load()
    except AttributeError as exc:
        return _error(request_id, "Runtime.HandlerNotFound", str(exc), exc)
    except SyntaxError as exc:
        return _error(request_id, "Runtime.UserCodeSyntaxError", str(exc), exc)
    except ImportError as exc:
        return _error(request_id, "Runtime.ImportModuleError", f"Unable to import module: {exc}", exc)
    token = _current_function.set(_function_id(function))
    try:
        result = handler(event, context)
    except Exception as exc:  # noqa: BLE001 - any handler exception is the function's error, as in Lambda
        outcome = _error(request_id, type(exc).__name__, str(exc), exc)
    else:
        outcome = _success(request_id, result)
    finally:
        _current_function.reset(token)
    if time.monotonic() - started > function.timeout or LambdaTimeouts.consume(_function_id(function)):
        message = f"RequestId: {request_id} Error: Task timed out after {function.timeout:.2f} seconds"
        return _error(request_id, "Sandbox.Timedout", message, None)
    return outcome


def _success(request_id: str, result: Any) -> InvocationResult:
    try:
        return InvocationResult(json.dumps(result).encode())
    except (TypeError, ValueError) as exc:
        return _error(request_id, "Runtime.MarshalError", f"Unable to marshal response: {exc}", exc)


def _error(request_id: str, error_type: str, message: str, exc: BaseException | None) -> InvocationResult:
    user_frames = exc.__traceback__.tb_next if exc is not None and exc.__traceback__ is not None else None
    stack = traceback.format_list(traceback.extract_tb(user_frames)) if user_frames is not None else []
    LOG.info("lambda request %s failed with %s: %s", request_id, error_type, message, exc_info=exc)
    body = {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}
    return InvocationResult(json.dumps(body).encode(), function_error="Unhandled")


_registry_lock = threading.Lock()
_registry: dict[str, LambdaFunction] = {}


def _registered(backend: LambdaSimpleBackend, function_name: str, qualifier: str | None) -> LambdaFunction | None:
    try:
        found = backend.get_function(function_name, qualifier)
    except LambdaClientError:
        return None
    arn = f"arn:{backend.partition}:lambda:{backend.region_name}:{backend.account_id}:function:{found.function_name}"
    with _registry_lock:
        return _registry.get(arn)


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _parse_event(body: str | bytes | None) -> Any:
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise LambdaClientError(
            "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
        ) from None


def _routed_invoke(original: Method) -> Method:
    def invoke(
        backend: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, Any],
    ) -> str | bytes | None:
        function = _registered(backend, function_name, qualifier)
        if function is None:
            return original(backend, function_name, qualifier, body, headers, response_headers)  # type: ignore[no-any-return]
        event = _parse_event(body)
        invoked_arn = function_name if function_name.startswith("arn:") else function.arn
        if qualifier and not invoked_arn.endswith(f":{qualifier}"):
            invoked_arn = f"{invoked_arn}:{qualifier}"
        invocation_type = _header(headers, "X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            worker = threading.Thread(
                target=invoke_function, args=(function, event), kwargs={"invoked_arn": invoked_arn}, daemon=True
            )
            worker.start()
            return b""
        result = invoke_function(function, event, invoked_arn=invoked_arn)
        if result.function_error:
            response_headers["x-amz-function-error"] = result.function_error
        return result.payload

    return invoke


class LambdaRouter(Lifecycle):
    """Routes Invoke calls for the given functions (by ARN) to their handlers while started (and while
    moto_patches.LambdaInvokeRouting is: EmulatedAws starts both)."""

    def __init__(self, functions: Iterable[LambdaFunction] = ()) -> None:
        self._functions: dict[str, LambdaFunction] = {function.arn: function for function in functions}
        self._started = False

    def add(self, function: LambdaFunction) -> None:
        self._functions[function.arn] = function
        if self._started:
            with _registry_lock:
                _registry[function.arn] = function

    def start(self) -> None:
        if self._started:
            return
        with _registry_lock:
            _registry.update(self._functions)
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        with _registry_lock:
            for arn, function in self._functions.items():
                if _registry.get(arn) is function:
                    del _registry[arn]
        self._started = False
