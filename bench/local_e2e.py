"""Local end to end: `python -m local_stack run` (the emulated AWS and the API, as a developer runs them),
its startup time, and the wall time from POST /deploy to a succeeded task and from POST /delete to a
succeeded task, polling the task's GET route every POLL_S. The run's own template parameters apply
(short Wait states, a demo model that reports Creating once); the time spent in Wait states, read
from the execution history, is reported beside the wall time."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from bench.common import BASE_PATH, MODEL, ROOT, WORK_DIR, ChildFailed, base_environment, stop_child, tail

POLL_S = 0.05
READY_TIMEOUT_S = 120.0
TASK_TIMEOUT_S = 120.0
_URL = re.compile(r"^\s*(API|AWS)\s+(http://\S+)")
# The banner's key of the local developer (who owns the demo model): every route checks SigV4.
_KEYS = re.compile(r"export AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)")
_READY = re.compile(r"Local stack ready in ([0-9.]+) s")


def run() -> dict[str, Any]:
    with _local_stack() as (stack, startup):
        deploy = _task(stack["API"], "deploy", {"embedding_model_id": MODEL})
        delete = _task(stack["API"], "delete", {"embedding_model_id": MODEL, "reason": "bench"})
        for task in (deploy, delete):
            task["wait_states_s"] = _wait_seconds(stack["AWS"], task.pop("execution_arn"))
            task["wall_minus_waits_s"] = task["wall_s"] - task["wait_states_s"]
    return {
        "command": "python -m local_stack run --api-port 0 --aws-port 0 --quiet",
        **startup,
        "deploy": deploy,
        "delete": delete,
    }


@contextlib.contextmanager
def _local_stack() -> Iterator[tuple[dict[str, str], dict[str, float]]]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    log_path = WORK_DIR / "local_stack.log"
    args = [sys.executable, "-m", "local_stack", "run", "--api-port", "0", "--aws-port", "0", "--quiet"]
    with log_path.open("w") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            args, cwd=ROOT, env=base_environment(), stdout=subprocess.PIPE, stderr=log, text=True
        )
        try:
            urls, reported = _read_banner(process.stdout, process)
            ready = time.perf_counter() - started
            if "API" not in urls or "AWS" not in urls or "access_key_id" not in urls:
                raise ChildFailed(f"`python -m local_stack run` did not print its URLs and key:\n{tail(log_path)}")
            _signer[:] = [(urls["access_key_id"], urls["secret_access_key"])]
            yield urls, {"startup_s": ready, "startup_reported_s": reported}
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                stop_child(process, timeout=20)


def _read_banner(stream: IO[str] | None, process: subprocess.Popen[str]) -> tuple[dict[str, str], float]:
    urls: dict[str, str] = {}
    reported = float("nan")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while stream is not None and time.monotonic() < deadline and len(urls) < 4:
        line = stream.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        if ready := _READY.search(line):
            reported = float(ready[1])
        if url := _URL.match(line):
            urls[url[1]] = url[2]
        if keys := _KEYS.search(line):
            urls["access_key_id"], urls["secret_access_key"] = keys[1], keys[2]
    return urls, reported


_signer: list[tuple[str, str]] = []  # (access key id, secret) from the banner


def _signed_headers(method: str, url: str, data: bytes | None) -> dict[str, str]:
    from botocore.auth import SigV4Auth  # noqa: PLC0415 - only this child signs
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415
    from botocore.credentials import Credentials  # noqa: PLC0415

    (key, secret), headers = _signer[0], {"Content-Type": "application/json"}
    request = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _request(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = _signed_headers(method, url, data)
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _task(api: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    status, task = _request("POST", f"{api}{BASE_PATH}/{route}", body)
    accepted = time.perf_counter() - started
    if status != 202:
        raise ChildFailed(f"POST /{route} answered {status}: {task}")
    polls = 0
    while task["status"] not in ("succeeded", "failed"):
        if time.perf_counter() - started > TASK_TIMEOUT_S:
            raise ChildFailed(f"{route} task {task['id']} still {task['status']} after {TASK_TIMEOUT_S} s")
        time.sleep(POLL_S)
        polls += 1
        status, task = _request("GET", f"{api}{BASE_PATH}/{route}/{task['id']}")
        if status != 200:
            raise ChildFailed(f"GET /{route}/{{id}} answered {status}: {task}")
    wall = time.perf_counter() - started
    if task["status"] != "succeeded":
        raise ChildFailed(f"{route} task ended {task['status']}: {task.get('error')}")
    return {"wall_s": wall, "accepted_s": accepted, "status_polls": polls, "execution_arn": task["execution_arn"]}


def _wait_seconds(aws_endpoint: str, execution_arn: str) -> float:
    """Seconds the execution spent in Wait states (its configured waits), from its history."""
    import boto3  # noqa: PLC0415 - only this section talks to AWS from the bench's own process

    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    total = 0.0
    entered: datetime | None = None
    for event in events:
        if event["type"] == "WaitStateEntered":
            entered = event["timestamp"]
        elif event["type"] == "WaitStateExited" and entered is not None:
            total += (event["timestamp"] - entered).total_seconds()
            entered = None
    return total
