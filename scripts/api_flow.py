"""Black-box flow through a running API: `python scripts/api_flow.py http://127.0.0.1:3000 [--model M]`.

Deploy the model (202), wait until the task succeeded, read it through the status routes and the serving
record, delete it (202) and wait until that succeeded, then a 404 and a 422. Plain HTTP, so it proves
what a caller sees: run it against `make run` or `sam local start-api` (as .ci/sam-local does). Requests
are SigV4-signed (botocore) with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) when
set, as `make run`'s gateway requires (its banner prints a key); sam local checks no signature. No other
task of the model may be running. Exits 1 with the first broken step.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

PREFIX = "/internal/inference-deployment"


class FlowError(AssertionError):
    pass


class Api:
    def __init__(self, base_url: str, timeout: float, region: str = "us-east-1") -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {base_url}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.region = region

    def _signed(self, request: urllib.request.Request, data: bytes | None) -> None:
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            return
        from botocore.auth import SigV4Auth  # noqa: PLC0415 (only when signing)
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415
        from botocore.credentials import Credentials  # noqa: PLC0415

        signing = AWSRequest(request.get_method(), request.full_url, data=data, headers=dict(request.header_items()))
        credentials = Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN"))
        SigV4Auth(credentials, "execute-api", self.region).add_auth(signing)
        for name, value in signing.headers.items():
            request.add_header(name, str(value))

    def call(self, method: str, path: str, body: object | None = None) -> tuple[int, dict[str, str], Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)  # noqa: S310 (http(s) only)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        self._signed(request, data)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) only)
                return response.status, dict(response.headers), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read() or b"null")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise FlowError(message)


def step(name: str, status: int, expected: int, body: Any) -> None:
    expect(status == expected, f"{name}: expected {expected}, got {status}: {json.dumps(body)[:500]}")
    print(f"ok  {name} -> {status}", flush=True)


def wait_for_final(api: Api, path: str, deadline_seconds: float) -> dict[str, Any]:
    """GET `path` until the task is succeeded or failed; the deadline bounds a stuck workflow."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        status, _, task = api.call("GET", path)
        expect(status == 200, f"GET {path}: expected 200, got {status}: {task}")
        if task["status"] in ("succeeded", "failed"):
            return dict(task)
        expect(time.monotonic() < deadline, f"GET {path}: still {task['status']} after {deadline_seconds:.0f} s")
        time.sleep(0.5)


def run(api: Api, model: str, deadline_seconds: float) -> None:
    status, headers, task = api.call("POST", f"{PREFIX}/deploy", {"embedding_model_id": model})
    step("POST /deploy", status, 202, task)
    expect(task["status"] == "pending", f"a new deploy task is pending, got {task['status']}")
    location = headers.get("Location", "")
    expect(location.endswith(f"/deploy/{task['id']}"), f"Location names the task: {location!r}")

    deployed = wait_for_final(api, f"{PREFIX}/deploy/{task['id']}", deadline_seconds)
    expect(deployed["status"] == "succeeded", f"deploy ended {deployed['status']}: {deployed.get('error')}")
    print(f"ok  deploy {task['id']} succeeded", flush=True)

    status, _, latest = api.call("GET", f"{PREFIX}/deploy-status/{model}")
    step("GET /deploy-status", status, 200, latest)
    expect(latest["id"] == task["id"] and latest["status"] == "succeeded", f"deploy-status: {latest}")
    status, _, record = api.call("GET", f"{PREFIX}/models/{model}")
    step("GET /models", status, 200, record)
    expect(record["task_id"] == task["id"], f"the serving record comes from the deploy: {record}")

    status, _, removal = api.call("POST", f"{PREFIX}/delete", {"embedding_model_id": model, "reason": "api flow"})
    step("POST /delete", status, 202, removal)
    removed = wait_for_final(api, f"{PREFIX}/delete/{removal['id']}", deadline_seconds)
    expect(removed["status"] == "succeeded", f"delete ended {removed['status']}: {removed.get('error')}")
    print(f"ok  delete {removal['id']} succeeded", flush=True)
    status, _, latest = api.call("GET", f"{PREFIX}/delete-status/{model}")
    step("GET /delete-status", status, 200, latest)
    expect(latest["id"] == removal["id"], f"delete-status: {latest}")

    status, _, problem = api.call("GET", f"{PREFIX}/models/{model}")
    step("GET /models after the delete", status, 404, problem)
    status, _, problem = api.call("GET", f"{PREFIX}/deploy/deploy-{'0' * 26}")
    step("GET /deploy/<unknown id>", status, 404, problem)
    expect(problem.get("code") == "task_not_found", f"problem code: {problem}")
    status, _, problem = api.call("POST", f"{PREFIX}/deploy", {"embedding_model_id": model, "extra": 1})
    step("POST /deploy with an unknown field", status, 422, problem)
    expect(problem.get("code") == "validation_error", f"problem code: {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url")
    parser.add_argument("--model", default="embed-deploy-123")
    parser.add_argument("--request-timeout", type=float, default=90, help="seconds per request (cold starts)")
    parser.add_argument("--task-deadline", type=float, default=120, help="seconds for a task to finish")
    args = parser.parse_args(argv)
    try:
        run(Api(args.base_url, args.request_timeout), args.model, args.task_deadline)
    except (FlowError, OSError, KeyError, ValueError) as error:
        print(f"FAIL {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print("api flow: all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
