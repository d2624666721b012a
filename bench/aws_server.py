"""The emulated AWS server the request measurements talk to, in a process of its own.

`python -m bench.aws_server` deploys template.yaml on moto's threaded server (`EmulatedAwsServer`, any
free port), prints one JSON line (endpoint, environment, functions), and serves until its stdin
closes. Keeping moto out of the measuring processes means no handler process pays for moto's import
and the server's threads do not share a GIL with the handler being timed.

With `--no-executions` StartExecution records the execution without running it: the request
benchmarks start thousands of them, and running each one's steps in the server would load the
machine while the next requests are timed. The rollout measurement runs executions (bench.rollout).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from bench.common import ROOT, WORK_DIR, ChildFailed, base_environment, stop_child, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aws_server")
    parser.add_argument("--no-executions", action="store_true", help="record executions without running them")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    # Anything a handler or moto prints goes to stderr; stdout carries the one ready line.
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    started = time.perf_counter()

    from local_stack import emulator  # noqa: PLC0415 - after the ready pipe is set aside
    from local_stack.emulator import EmulatedAwsServer  # noqa: PLC0415
    from local_stack.template import load_template  # noqa: PLC0415

    template = load_template(ROOT / "template.yaml")
    for path in reversed(template.import_paths()):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    from local_stack.run_config import SAMPLE_ADMIN_PATTERN, create_sample_caller  # noqa: PLC0415

    # The sample events' caller may deploy any model (the benchmarks send them); --parameter may say otherwise.
    parameters = {"AdminPrincipalArnPatterns": SAMPLE_ADMIN_PATTERN}
    parameters.update(item.split("=", 1) for item in args.parameter)
    config = {"stepfunctions": {"execute_state_machine": False}} if args.no_executions else {}
    with mock.patch.dict(emulator.MOTO_CONFIG, config):
        server = EmulatedAwsServer(template, host="127.0.0.1", port=0, parameters=parameters)
        server.start()
    stack = server.stack
    create_sample_caller(server.client("iam"), stack.account_id)  # admins are roles IAM knows
    summary = {
        "endpoint_url": server.endpoint_url,
        "startup_s": time.perf_counter() - started,
        "environment": server.process_environment(),
        "tables": {logical_id: table.name for logical_id, table in stack.tables.items()},
        "state_machines": {logical_id: machine.arn for logical_id, machine in stack.state_machines.items()},
        "functions": {
            logical_id: {
                "name": function.name,
                "code_dir": str(function.code_dir),
                "memory_size": function.memory_size,
                "timeout": function.timeout,
            }
            for logical_id, function in stack.functions.items()
        },
    }
    ready.write(json.dumps(summary) + "\n")
    ready.flush()
    sys.stdin.read()  # until the bench closes our stdin
    # A throwaway process: skip stopping thousands of recorded executions one by one.
    os._exit(0)


@dataclass(frozen=True)
class AwsServer:
    endpoint_url: str
    startup_s: float
    environment: Mapping[str, str]
    tables: Mapping[str, str]
    state_machines: Mapping[str, str]
    functions: Mapping[str, Mapping[str, Any]]

    def memory_of(self, code_dir_name: str) -> int:
        for function in self.functions.values():
            if str(function["code_dir"]).rstrip("/").endswith(f"/{code_dir_name}"):
                return int(function["memory_size"])
        raise KeyError(code_dir_name)


@contextmanager
def aws_server(*, executions: bool = False, parameters: Mapping[str, str] | None = None) -> Iterator[AwsServer]:
    """Start `python -m bench.aws_server` and yield what it deployed; stop it on exit."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    log_path = WORK_DIR / "aws_server.log"
    args = [sys.executable, "-m", "bench.aws_server"]
    if not executions:
        args.append("--no-executions")
    for key, value in (parameters or {}).items():
        args += ["--parameter", f"{key}={value}"]
    env = base_environment()
    env.update({"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"})
    with log_path.open("w") as log:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        try:
            line = process.stdout.readline() if process.stdout is not None else ""
            if not line:
                raise ChildFailed(f"the emulated AWS server did not start:\n{tail(log_path)}")
            yield AwsServer(**json.loads(line))
        finally:
            stop_child(process, timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
