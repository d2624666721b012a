"""Faults AWS throws that moto cannot: errors, transport failures, and writes whose answer is lost.

A `FaultPlan` hooks botocore's events on the clients it is given (the service's own cached clients),
so a planned fault happens inside the real SDK call path:

  error            the call does not reach AWS and answers `code` (throttling, access denied…)
  connect_timeout  ConnectTimeoutError before anything was sent: the write did NOT happen
  connection_error EndpointConnectionError before anything was sent: the write did NOT happen
  read_timeout     the request reached AWS and was applied, then the answer never came back
                   (ReadTimeoutError after the SDK gave up): the write DID happen
  retried          the request was applied, its answer was lost, and the SDK sent it again: the caller
                   sees the second attempt's answer (ConditionalCheckFailed, "already exists"…)

`LambdaTimeouts` (in local_stack.lambdas) adds the last one the service must survive: a Lambda whose
handler ran to the end, side effects included, and that Lambda still reports as timed out.

A plan is written as text too, for `make run FAULTS=...` (LOCAL_STACK_FAULTS) and `python -m local_stack
run --fault ...`: `service:Operation:kind[:times][@FunctionLogicalId]`, e.g.
`dynamodb:TransactWriteItems:read_timeout:1@SwitchTrafficFunction`,
`sagemaker:CreateEndpoint:error=ThrottlingException:2`,
or `lambda:SwitchTrafficFunction:timeout` (the function's next invocation times out after its handler ran).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from local_stack.lambdas import LambdaTimeouts, current_function

FaultKind = Literal["error", "connect_timeout", "connection_error", "read_timeout", "retried", "timeout"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
COMMITTED: frozenset[str] = frozenset({"read_timeout", "retried"})
# The writes the service makes, by the client factory in inference_deploy.adapters.aws that makes them.
WRITES: dict[str, tuple[str, ...]] = {
    "dynamodb": ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"),
    "stepfunctions": ("StartExecution",),
    "sagemaker": ("CreateEndpointConfig", "CreateEndpoint", "DeleteEndpoint", "DeleteEndpointConfig", "AddTags"),
    "application-autoscaling": ("RegisterScalableTarget", "PutScalingPolicy", "DeregisterScalableTarget"),
}
_FAULT_KEY = "local_stack_fault"
_PARAMS_KEY = "local_stack_api_params"

type Predicate = Callable[[dict[str, Any]], bool]


class FaultSpecError(ValueError):
    """A fault written as text does not parse."""


@dataclass
class Fault:
    service: str
    operation: str
    kind: FaultKind
    times: int = 1
    in_function: str | None = None
    when: Predicate | None = None
    code: str = "InternalFailure"
    status: int = 400
    hits: int = field(default=0, init=False)

    def matches(self, api_params: dict[str, Any]) -> bool:
        if self.hits >= self.times:
            return False
        if self.in_function is not None and current_function() != self.in_function:
            return False
        return self.when is None or self.when(api_params)


def parse_fault(spec: str) -> Fault:
    """`service:Operation:kind[:times][@FunctionLogicalId]` (kind `error=Code` answers that code)."""
    text, _, function = spec.strip().partition("@")
    parts = text.split(":")
    if len(parts) not in (3, 4) or not all(parts):
        raise FaultSpecError(f"{spec!r}: expected service:Operation:kind[:times][@Function]")
    service, operation, kind = parts[:3]
    kind, _, code = kind.partition("=")
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"{spec!r}: kind must be one of {', '.join(FAULT_KINDS)}")
    if (service == "lambda") != (kind == "timeout"):
        raise FaultSpecError(f"{spec!r}: lambda:<FunctionLogicalId>:timeout is the only Lambda fault")
    try:
        times = int(parts[3]) if len(parts) == 4 else 1
    except ValueError:
        raise FaultSpecError(f"{spec!r}: times must be a number") from None
    return Fault(
        service=service,
        operation=operation,
        kind=cast("FaultKind", kind),
        times=times,
        in_function=function or None,
        code=code or "InternalFailure",
    )


def parse_faults(text: str) -> list[Fault]:
    """Comma-separated fault specs (LOCAL_STACK_FAULTS)."""
    return [parse_fault(part) for part in text.split(",") if part.strip()]


class FaultPlan:
    """Planned faults on the given boto3 clients; `calls` counts every call of a hooked operation."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.fired: list[Fault] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._hooked: set[tuple[int, str]] = set()
        self._local = threading.local()

    def add(self, fault: Fault, client: Any) -> Fault:
        """Plan `fault` on `client` (which must be the client of `fault.service`)."""
        self._hook(client, fault.operation)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every planned fault (its handlers stay, and let every call through)."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.hits < f.times]

    def _take(self, service_operation: tuple[str, str], api_params: dict[str, Any]) -> Fault | None:
        with self._lock:
            self.calls[service_operation[1]] = self.calls.get(service_operation[1], 0) + 1
            for fault in self._faults:
                if (fault.service, fault.operation) == service_operation and fault.matches(api_params):
                    fault.hits += 1
                    self.fired.append(fault)
                    return fault
        return None

    def _hook(self, client: Any, operation: str) -> None:
        key = (id(client), operation)  # one set of handlers per plan, client and operation
        if key in self._hooked:
            return
        self._hooked.add(key)
        service = _service_name(client)
        event_service = client.meta.service_model.service_id.hyphenize()
        suffix = f"{event_service}.{operation}"
        events = client.meta.events
        hook_id = f"{id(self)}-{key}"
        events.register(f"before-parameter-build.{suffix}", self._remember_params, unique_id=f"fault-params-{hook_id}")
        events.register(
            f"before-call.{suffix}",
            lambda **kw: self._before_call(client, (service, operation), **kw),
            unique_id=f"fault-before-{hook_id}",
        )
        events.register(
            f"after-call.{suffix}",
            lambda **kw: self._after_call(client, **kw),
            unique_id=f"fault-after-{hook_id}",
        )

    @staticmethod
    def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS_KEY] = copy.deepcopy(params)

    def _before_call(
        self, client: Any, service_operation: tuple[str, str], params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> Any:
        if getattr(self._local, "resending", False):
            return None
        fault = self._take(service_operation, context.get(_PARAMS_KEY, {}))
        if fault is None:
            return None
        url = str(params.get("url", client.meta.endpoint_url))
        if fault.kind == "connect_timeout":
            raise ConnectTimeoutError(endpoint_url=url)
        if fault.kind == "connection_error":
            raise EndpointConnectionError(endpoint_url=url)
        if fault.kind == "error":
            return (
                AWSResponse(url, fault.status, HTTPHeaders(), None),
                {
                    "Error": {"Code": fault.code, "Message": f"injected {fault.code}"},
                    "ResponseMetadata": {"HTTPStatusCode": fault.status},
                },
            )
        context[_FAULT_KEY] = (fault, params)
        return None

    def _after_call(
        self, client: Any, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        planned = context.pop(_FAULT_KEY, None)
        if planned is None:
            return
        fault, request_dict = planned
        if fault.kind == "read_timeout":
            raise ReadTimeoutError(endpoint_url=str(request_dict.get("url", client.meta.endpoint_url)))
        # retried: the SDK sends the same request again and hands the caller that attempt's answer.
        self._local.resending = True
        try:
            second_http, second = client._endpoint.make_request(model, request_dict)
        finally:
            self._local.resending = False
        parsed.clear()
        parsed.update(second)
        http_response.status_code = second_http.status_code


def _service_name(client: Any) -> str:
    name = str(client.meta.service_model.service_name)
    return {"states": "stepfunctions"}.get(name, name)


def install(plan: FaultPlan, faults: Iterable[Fault], client_for: Callable[[str], Any]) -> None:
    """Plan each fault on the client `client_for(service)` returns (Lambda timeouts on the router)."""
    for fault in faults:
        if fault.service == "lambda":
            LambdaTimeouts.after_handler(fault.operation, times=fault.times)
        else:
            plan.add(fault, client_for(fault.service))
