"""Warm requests: many requests through a handler already loaded, service and baseline side by side.

One long-lived worker process per implementation (`python -m bench.warm --variant KEY`), fed commands
on stdin; the parent makes the workers take turns in rounds, so drift in the emulated server (its
tables grow as creates run) hits every implementation alike. Separate processes matter: the X-Ray
SDK patches botocore process-wide, which would slow a baseline sharing the service's process.

Two modes per route:

- `server`: the real round trip to the emulated AWS server over loopback. Moto's latency dominates
  both implementations, so the ratio understates the handler's own cost.
- `stub`: botocore's `before-send` answers with the exact HTTP response the server gave for that
  operation during priming. Both implementations still build, serialize and sign their requests
  and parse the same response bytes; what differs is only their own code (routing, validation,
  models, logging, metrics, tracing). This is the fair view of the in-process overhead.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import IO, Any

from bench.aws_server import AwsServer
from bench.common import (
    FUNCTIONS_DIR,
    LAYER_DIR,
    ROOT,
    ROUTES,
    WORK_DIR,
    ChildFailed,
    LambdaContext,
    lambda_environment,
    own_model,
    percentile,
    ratio,
    route_event,
    stop_child,
    summarize,
    tail,
    trace_header,
)

WARMUP = 20


@dataclass(frozen=True)
class WarmVariant:
    key: str
    label: str
    service: bool
    tracing: bool | None  # the Powertools Tracer: None as the template configures the function


VARIANTS = (
    WarmVariant("baseline", "baseline (boto3 only)", service=False, tracing=None),
    WarmVariant(
        "service", "service as deployed (no X-Ray SDK Tracer in the API functions)", service=True, tracing=None
    ),
    WarmVariant(
        "service_tracer", "service with ApiTracerSubsegments=true (X-Ray SDK Tracer)", service=True, tracing=True
    ),
)
MODES = ("stub", "server")


# ---------------------------------------------------------------- parent


def run(
    server: AwsServer,
    *,
    task_id: str,
    server_iterations: int,
    create_server_iterations: int,
    stub_iterations: int,
    rounds: int,
    xray_daemon: str,
) -> dict[str, Any]:
    with ExitStack() as stack:
        workers = {v.key: stack.enter_context(_worker(server, v, xray_daemon)) for v in VARIANTS}
        operations = {
            key: worker.call({"op": "prime", "task_id": task_id})["operations"] for key, worker in workers.items()
        }
        results: dict[str, Any] = {
            "variants": {v.key: v.label for v in VARIANTS},
            "aws_operations_per_request": operations,
            "baseline_drift": _drift(operations),
            "routes": {},
        }
        for route in ("get", "status", "create"):  # creates last: they grow the table the reads query
            per_mode: dict[str, Any] = {}
            for mode in MODES:
                total = stub_iterations
                if mode == "server":
                    total = create_server_iterations if route == "create" else server_iterations
                per_round = max(1, total // rounds)
                samples: dict[str, list[float]] = {key: [] for key in workers}
                round_p50: dict[str, list[float]] = {key: [] for key in workers}
                for r in range(rounds):
                    order = list(workers)[r % len(workers) :] + list(workers)[: r % len(workers)]
                    for key in order:
                        answer = workers[key].call(
                            {
                                "op": "run",
                                "route": route,
                                "mode": mode,
                                "n": per_round,
                                "warmup": WARMUP if r == 0 else 0,
                            }
                        )
                        samples[key].extend(answer["ms"])
                        round_p50[key].append(percentile(answer["ms"], 0.5))
                per_mode[mode] = _compare(samples)
                for key, values in round_p50.items():
                    per_mode[mode][key]["p50_by_round"] = values
            results["routes"][route] = {"route": ROUTES[route][2], **per_mode}
        return results


def _compare(samples: Mapping[str, list[float]]) -> dict[str, Any]:
    summaries = {key: summarize(values) for key, values in samples.items()}
    base = summaries["baseline"]
    for summary in summaries.values():
        summary["ratio_p50"] = ratio(summary["p50"], base["p50"])
        summary["ratio_p99"] = ratio(summary["p99"], base["p99"])
        summary["overhead_p50_ms"] = summary["p50"] - base["p50"]
    return summaries


def _drift(operations: Mapping[str, Mapping[str, list[str]]]) -> list[str]:
    """Routes where the service makes other AWS calls than the baseline (the baseline needs updating)."""
    baseline = operations["baseline"]
    return [
        f"{route}: service {calls} vs baseline {baseline.get(route)}"
        for route, calls in operations["service"].items()
        if calls != baseline.get(route)
    ]


class _Worker:
    def __init__(self, process: subprocess.Popen[str], log: str) -> None:
        self._process = process
        self._log = log

    def call(self, command: Mapping[str, Any]) -> dict[str, Any]:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise ChildFailed(f"warm worker died on {command.get('op')}:\n{tail(WORK_DIR / self._log)}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise ChildFailed(f"warm worker failed: {answer['error']}\n{tail(WORK_DIR / self._log)}")
        return answer


@contextmanager
def _worker(server: AwsServer, variant: WarmVariant, xray_daemon: str) -> Iterator[_Worker]:
    env = lambda_environment(
        server.environment,
        function=f"bench-warm-{variant.key}",
        code_dir=FUNCTIONS_DIR,
        memory_mb=server.memory_of("create_task"),
        xray_daemon=xray_daemon,
        tracing=variant.tracing,
    )
    log = f"warm-{variant.key}.log"
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    with (WORK_DIR / log).open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.warm", "--variant", variant.key],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            yield _Worker(process, log)
        finally:
            stop_child(process, timeout=30)


# ---------------------------------------------------------------- worker


class _Canned:
    """A botocore raw response body that replays recorded bytes."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class _Wire:
    """Records each operation's HTTP response while live; replays it while stubbed."""

    def __init__(self) -> None:
        self.stubbed = False
        self.recording: list[str] | None = None
        self._responses: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send", self._before_send)
        client.meta.events.register("response-received", self._received)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.split(".", 1)[1]
        if self.recording is not None:
            self.recording.append(operation)
        if not self.stubbed:
            return None
        from botocore.awsrequest import AWSResponse  # noqa: PLC0415 - in the worker only
        from botocore.compat import HTTPHeaders  # noqa: PLC0415

        status, recorded, body = self._responses[operation]
        headers = HTTPHeaders()
        for name, value in recorded.items():
            headers[name] = value
        return AWSResponse(request.url, status, headers, _Canned(body))

    def _received(self, event_name: str, response_dict: Mapping[str, Any] | None, **_: Any) -> None:
        if response_dict is not None and not self.stubbed:
            operation = event_name.split(".", 1)[1]
            self._responses[operation] = (
                int(response_dict["status_code"]),
                dict(response_dict["headers"]),
                bytes(response_dict["body"]),
            )


def _handlers(variant: WarmVariant) -> tuple[dict[str, Callable[..., Any]], Callable[[], list[Any]]]:
    """The route handlers of an implementation, and a function listing the boto3 clients they built."""
    if variant.service:
        sys.path[:0] = [str(FUNCTIONS_DIR), str(LAYER_DIR)]
        from create_task.app import lambda_handler as create  # noqa: PLC0415 - loaded in the worker only
        from read_task.app import lambda_handler as read  # noqa: PLC0415

        from inference_deploy.adapters import aws  # noqa: PLC0415

        def service_clients() -> list[Any]:  # every client a create or a read builds
            return [aws.dynamodb(), aws.stepfunctions(), aws.iam(), aws.sagemaker(), aws.cloudwatch()]

        return {"create": create, "get": read, "status": read}, service_clients
    from bench.baseline import create_task, read_task  # noqa: PLC0415

    def clients() -> list[Any]:
        return [*create_task._clients.values(), *read_task._clients.values()]

    handlers = {
        "create": create_task.lambda_handler,
        "get": read_task.lambda_handler,
        "status": read_task.lambda_handler,
    }
    return handlers, clients


def worker(variant_key: str, commands: IO[str], answers: IO[str]) -> None:
    variant = next(v for v in VARIANTS if v.key == variant_key)
    handlers, clients = _handlers(variant)
    wire = _Wire()
    context = LambdaContext()
    events: dict[str, dict[str, Any]] = {}

    creates = iter(range(10**9))

    def invoke(route: str) -> float:
        event = copy.deepcopy(events[route])
        if route == "create":  # a model of its own: a model has one active task, and none finish here
            model = f"bench-warm-{variant.key.replace('_', '-')}-{next(creates)}"
            event["body"] = json.dumps({"embedding_model_id": model})
            if not wire.stubbed:  # stubbed, DescribeModel answers as recorded for an owned model
                own_model(os.environ["AWS_ENDPOINT_URL"], model)
        os.environ["_X_AMZN_TRACE_ID"] = trace_header()  # a new trace per invocation, as the runtime does
        started = time.perf_counter()
        response = handlers[route](event, context)
        elapsed = time.perf_counter() - started
        if response["statusCode"] not in (200, 202):
            raise RuntimeError(f"{route} answered {response['statusCode']}: {response.get('body')}")
        return elapsed * 1000

    for line in commands:
        command = json.loads(line)
        try:
            if command["op"] == "prime":
                events = {route: route_event(route, task_id=command["task_id"]) for route in ROUTES}
                operations: dict[str, list[str]] = {}
                for route in ROUTES:
                    invoke(route)  # builds the clients
                attached: set[int] = set()
                for client in clients():
                    if id(client) not in attached:
                        wire.attach(client)
                        attached.add(id(client))
                for route in ROUTES:
                    wire.recording = []
                    invoke(route)
                    operations[route] = wire.recording
                wire.recording = None
                answer: dict[str, Any] = {"operations": operations}
            elif command["op"] == "run":
                wire.stubbed = command["mode"] == "stub"
                for _ in range(command["warmup"]):
                    invoke(command["route"])
                answer = {"ms": [invoke(command["route"]) for _ in range(command["n"])]}
                wire.stubbed = False
            else:
                answer = {"error": f"unknown op {command['op']}"}
        except Exception as exc:  # report it to the parent, which prints the log
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def operation_counts(operations: Mapping[str, list[str]]) -> dict[str, dict[str, int]]:
    return {route: dict(Counter(calls)) for route, calls in operations.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warm")
    parser.add_argument("--variant", required=True, choices=[v.key for v in VARIANTS])
    args = parser.parse_args(argv)
    # Handlers print logs and metrics to stdout, as in Lambda: send them to /dev/null, answer on a copy.
    answers = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    worker(args.variant, sys.stdin, answers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
