"""Black-box flow through a running API: `python scripts/api_flow.py http://127.0.0.1:3000 [--model M]`.

`--e2e` (what `make e2e` runs) adds a cancel (a second deploy with a long bake, cancelled during its bake:
`cancelled`, blue serving again) and the model's history, and takes its target from the environment:
E2E_API_URL, or E2E_STACK_NAME (the stack's `ApiUrl` output, read with CloudFormation DescribeStacks),
E2E_MODEL (a SageMaker Model the caller's team owns) and credentials from botocore's default chain
(environment, profile, SSO, instance role; a session token signs too). Without a target or credentials it
prints "skipped: ..." and exits 0.

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
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

PREFIX = "/internal/inference-deployment"
# The cancelled redeploy's bake: long enough to be cancelled during it whatever the check interval.
BAKE_SECONDS = 600
EXECUTE_API_HOST = re.compile(r"^https://[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com")


class FlowError(AssertionError):
    pass


class Api:
    def __init__(self, base_url: str, timeout: float, region: str = "us-east-1", credentials: Any = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {base_url}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.region = region
        self.credentials = credentials  # botocore credentials; None: the AWS_* variables, if set

    def _signed(self, request: urllib.request.Request, data: bytes | None) -> None:
        from botocore.auth import SigV4Auth  # noqa: PLC0415 (only when signing)
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415
        from botocore.credentials import Credentials  # noqa: PLC0415

        credentials = self.credentials
        if credentials is None:
            key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
            if not key or not secret:
                return
            credentials = Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN"))
        signing = AWSRequest(request.get_method(), request.full_url, data=data, headers=dict(request.header_items()))
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(signing)
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


FINAL = ("succeeded", "failed", "cancelled")


def wait_for_final(api: Api, path: str, deadline_seconds: float) -> dict[str, Any]:
    """GET `path` until the task is succeeded, failed or cancelled; the deadline bounds a stuck workflow."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        status, _, task = api.call("GET", path)
        expect(status == 200, f"GET {path}: expected 200, got {status}: {task}")
        if task["status"] in FINAL:
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


def deploy_to_success(api: Api, model: str, deadline_seconds: float, **body: Any) -> dict[str, Any]:
    status, _, task = api.call("POST", f"{PREFIX}/deploy", {"embedding_model_id": model, **body})
    step("POST /deploy", status, 202, task)
    deployed = wait_for_final(api, f"{PREFIX}/deploy/{task['id']}", deadline_seconds)
    expect(deployed["status"] == "succeeded", f"deploy ended {deployed['status']}: {deployed.get('error')}")
    print(f"ok  deploy {task['id']} succeeded", flush=True)
    return deployed


def cancel_during_bake(api: Api, model: str, blue_task: str, deadline_seconds: float) -> dict[str, Any]:
    """A redeploy with a long bake, cancelled once its bake started: cancelled, the record back on blue."""
    status, _, task = api.call("POST", f"{PREFIX}/deploy", {"embedding_model_id": model, "bake_seconds": BAKE_SECONDS})
    step("POST /deploy with a long bake", status, 202, task)
    deadline = time.monotonic() + deadline_seconds
    while True:
        status, _, record = api.call("GET", f"{PREFIX}/models/{model}")
        expect(status == 200, f"GET /models/{model}: expected 200, got {status}: {record}")
        if record.get("task_id") == task["id"] and record.get("bake_ends_at"):
            break
        status, _, current = api.call("GET", f"{PREFIX}/deploy/{task['id']}")
        expect(current.get("status") not in FINAL, f"the redeploy ended before its bake: {current}")
        expect(time.monotonic() < deadline, f"no bake after {deadline_seconds:.0f} s: {record}")
        time.sleep(1)
    print(f"ok  {task['id']} is baking until {record['bake_ends_at']}", flush=True)
    status, _, cancelling = api.call("POST", f"{PREFIX}/deploy/{task['id']}/cancel", {"reason": "e2e: cancel the bake"})
    step("POST /deploy/<id>/cancel", status, 202, cancelling)
    expect(cancelling["status"] in ("cancelling", "cancelled"), f"a cancelled task is cancelling: {cancelling}")
    cancelled = wait_for_final(api, f"{PREFIX}/deploy/{task['id']}", deadline_seconds)
    expect(cancelled["status"] == "cancelled", f"the cancelled deploy ended {cancelled['status']}: {cancelled}")
    print(f"ok  deploy {task['id']} cancelled", flush=True)
    status, _, record = api.call("GET", f"{PREFIX}/models/{model}")
    step("GET /models after the cancel", status, 200, record)
    expect(record["task_id"] == blue_task, f"blue ({blue_task}) serves again: {record}")
    return cancelled


def run_e2e(api: Api, model: str, deadline_seconds: float) -> None:
    """Deploy -> succeeded, status routes, a cancelled redeploy, the history, delete -> succeeded."""
    blue = deploy_to_success(api, model, deadline_seconds)
    status, _, latest = api.call("GET", f"{PREFIX}/deploy-status/{model}")
    step("GET /deploy-status", status, 200, latest)
    expect(latest["id"] == blue["id"], f"deploy-status: {latest}")

    cancelled = cancel_during_bake(api, model, blue["id"], deadline_seconds)

    status, _, history = api.call("GET", f"{PREFIX}/models/{model}/tasks?kind=deploy&limit=2")
    step("GET /models/<model>/tasks", status, 200, history)
    ids = [task["id"] for task in history["tasks"]]
    expect(ids == [cancelled["id"], blue["id"]], f"the history, newest first: {ids}")

    status, _, removal = api.call("POST", f"{PREFIX}/delete", {"embedding_model_id": model, "reason": "e2e"})
    step("POST /delete", status, 202, removal)
    removed = wait_for_final(api, f"{PREFIX}/delete/{removal['id']}", deadline_seconds)
    expect(removed["status"] == "succeeded", f"delete ended {removed['status']}: {removed.get('error')}")
    print(f"ok  delete {removal['id']} succeeded", flush=True)
    status, _, problem = api.call("GET", f"{PREFIX}/models/{model}")
    step("GET /models after the delete", status, 404, problem)


class Skip(Exception):
    """Nothing to check against: no target or no credentials."""


def api_url_of_stack(stack_name: str, cloudformation: Any) -> str:
    """The stack's `ApiUrl` output (template.yaml Outputs)."""
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    expect("ApiUrl" in outputs, f"stack {stack_name} has no ApiUrl output (outputs: {sorted(outputs)})")
    return str(outputs["ApiUrl"])


def e2e_target(environ: Mapping[str, str], session: Any) -> tuple[str, Any, str]:
    """(API URL, credentials, region) from E2E_API_URL or E2E_STACK_NAME and botocore's default chain."""
    url, stack_name = environ.get("E2E_API_URL"), environ.get("E2E_STACK_NAME")
    if not url and not stack_name:
        raise Skip("set E2E_API_URL or E2E_STACK_NAME (and E2E_MODEL) to check a deployed stack")
    credentials = session.get_credentials()
    if credentials is None:
        raise Skip("no AWS credentials (botocore's default chain found none) to sign the requests")
    region = environ.get("E2E_REGION") or session.get_config_variable("region")
    if not url:
        url = api_url_of_stack(str(stack_name), session.create_client("cloudformation", region_name=region))
    found = EXECUTE_API_HOST.match(url)
    region = found["region"] if found else (region or "us-east-1")
    return url, credentials, region


def main_e2e(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make e2e: the black-box flow against a deployed stack")
    parser.add_argument("--e2e", action="store_true")
    parser.add_argument("--request-timeout", type=float, default=90, help="seconds per request (cold starts)")
    parser.add_argument("--task-deadline", type=float, default=1800, help="seconds for a task to finish")
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    import botocore.session  # noqa: PLC0415 (the plain flow needs no botocore)

    try:
        url, credentials, region = e2e_target(environ, botocore.session.Session())
        model = environ.get("E2E_MODEL")
        if not model:
            print("FAIL E2E_MODEL is not set: name a SageMaker Model your team owns", file=sys.stderr)
            return 2
        print(f"e2e: {url} (region {region}), model {model}", flush=True)
        run_e2e(Api(url, args.request_timeout, region, credentials), model, args.task_deadline)
    except Skip as skip:
        print(f"skipped: {skip}")
        return 0
    except (FlowError, OSError, KeyError, ValueError, BotoCoreError, ClientError) as error:
        print(f"FAIL {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print("e2e: all steps passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    if "--e2e" in (sys.argv[1:] if argv is None else argv):
        return main_e2e(argv)
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
