"""`make run` for real: `python -m local_stack run` as a subprocess, driven over HTTP like a developer would.

Only contract-level behaviour is asserted (202 + task, polled to `succeeded`, status routes), so the
tests hold whatever steps the workflows run. One process serves the whole module; the last test
stops it with SIGINT and checks it exits 0 and frees its ports.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_stack.emulator import ensure_port_free
from local_stack.run_config import DEMO_MODEL_NAME, DEMO_OWNER_ROLE, DEMO_TEAM, DEMO_UNTAGGED_ROLE
from local_stack.template import load_template

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BASE = "/internal/inference-deployment"
READY = re.compile(r"Local stack ready in (?P<seconds>[\d.]+) s")
API_URL = re.compile(r"^  API  (?P<url>http://\S+)", re.MULTILINE)
AWS_URL = re.compile(r"^  AWS  (?P<url>http://\S+)", re.MULTILINE)
KEYS = re.compile(r"export AWS_ACCESS_KEY_ID=(?P<key>\S+) AWS_SECRET_ACCESS_KEY=(?P<secret>\S+)")
START_TIMEOUT = 300.0  # bounds on a hang, not timings: a busy machine is slow
TASK_TIMEOUT = 300.0
TERMINAL = {"succeeded", "failed"}
BURST = 20
BURST_TIMEOUT = 900.0  # bounds a hang of 20 concurrent workflows on a busy machine, not a timing


@dataclass
class LocalStack:
    process: subprocess.Popen[bytes]
    output: Path
    api_url: str
    aws_url: str
    ready_seconds: float
    credentials: Credentials  # the local-developer user's key, as the banner prints it

    def text(self) -> str:
        return self.output.read_text(errors="replace")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    output = tmp_path_factory.mktemp("local-stack") / "output.log"
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_", "MOTO_"))
    }
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_stack", "run", "--api-port", "0", "--aws-port", "0"],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    try:
        yield _wait_until_ready(process, output)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _wait_until_ready(process: subprocess.Popen[bytes], output: Path) -> LocalStack:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = output.read_text(errors="replace")
        ready, api, aws, keys = READY.search(text), API_URL.search(text), AWS_URL.search(text), KEYS.search(text)
        if ready and api and aws and keys:
            credentials = Credentials(keys["key"], keys["secret"])
            return LocalStack(process, output, api["url"], aws["url"], float(ready["seconds"]), credentials)
        if process.poll() is not None:
            pytest.fail(f"local stack exited with {process.returncode} before it was ready:\n{text}")
        time.sleep(0.05)
    pytest.fail(f"local stack not ready after {START_TIMEOUT}s:\n{output.read_text(errors='replace')}")


def call(
    stack: LocalStack,
    method: str,
    path: str,
    body: Any = None,
    *,
    credentials: Credentials | bool = True,
) -> Answer:
    """The answer to a request signed (botocore's SigV4, as the SDKs sign) with the banner's key, with
    `credentials` when given, unsigned when False."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if credentials is not False:
        signing = AWSRequest(method, f"{stack.api_url}{path}", data=data, headers=headers)
        signer = stack.credentials if isinstance(credentials, bool) else credentials
        SigV4Auth(signer, "execute-api", "us-east-1").add_auth(signing)
        headers = {name: str(value) for name, value in signing.headers.items()}
    request = urllib.request.Request(f"{stack.api_url}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    return Answer(status, headers, json.loads(raw) if raw else None)


def start(stack: LocalStack, kind: str, model_id: str) -> dict[str, Any]:
    answer = call(stack, "POST", f"{BASE}/{kind}", {"embedding_model_id": model_id})
    assert answer.status == 202, f"{answer}\n--- local stack output ---\n{stack.text()[-4000:]}"
    task = answer.body
    assert task["id"].startswith(f"{kind}-")
    assert task["embedding_model_id"] == model_id
    assert task["status"] in {"pending", "in_progress"}
    assert answer.headers["Location"].endswith(f"{BASE}/{kind}/{task['id']}")
    return dict(task)


def wait_until_finished(stack: LocalStack, kind: str, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TASK_TIMEOUT
    while True:
        answer = call(stack, "GET", f"{BASE}/{kind}/{task_id}")
        if answer.status == 503 and "Retry-After" in answer.headers:  # the store slow under load: as a client does
            assert time.monotonic() < deadline, answer
            time.sleep(float(answer.headers["Retry-After"]))
            continue
        assert answer.status == 200, f"{answer}\n--- local stack output ---\n{stack.text()[-4000:]}"
        if answer.body["status"] in TERMINAL:
            return dict(answer.body)
        assert time.monotonic() < deadline, f"{task_id} still {answer.body['status']} after {TASK_TIMEOUT}s"
        time.sleep(0.2)


def run_to_success(stack: LocalStack, kind: str, model_id: str) -> dict[str, Any]:
    task = wait_until_finished(stack, kind, start(stack, kind, model_id)["id"])
    assert task["status"] == "succeeded", f"{kind} of {model_id} failed: {task.get('error')}\n{stack.text()[-4000:]}"
    status = call(stack, "GET", f"{BASE}/{kind}-status/{model_id}")
    assert status.status == 200
    assert status.body["id"] == task["id"]
    assert status.body["status"] == "succeeded"
    return task


@pytest.fixture(scope="module")
def deployed_demo(stack: LocalStack) -> dict[str, Any]:
    return run_to_success(stack, "deploy", DEMO_MODEL_NAME)


def test_the_stack_is_ready_in_seconds_and_says_how_to_deploy(stack: LocalStack) -> None:
    text = stack.text()
    # How fast it starts is the benchmark's business (a busy machine is slower); the banner must say it.
    print(f"local stack ready in {stack.ready_seconds:.1f} s")
    assert stack.ready_seconds > 0
    assert "--aws-sigv4 'aws:amz:us-east-1:execute-api' --user" in text
    assert f"export AWS_ACCESS_KEY_ID={stack.credentials.access_key} " in text
    assert f'curl -sS "${{sign[@]}}" -X POST {stack.api_url}{BASE}/deploy' in text
    assert f"{BASE}/deploy-status/{DEMO_MODEL_NAME}" in text
    assert f"{stack.api_url}/docs" in text
    aws_port = stack.aws_url.rsplit(":", 1)[1]
    assert f"make executions AWS_PORT={aws_port} [TASK=...]" in text


def test_the_demo_model_deploys_to_succeeded(deployed_demo: dict[str, Any]) -> None:
    assert deployed_demo["embedding_model_id"] == DEMO_MODEL_NAME
    assert deployed_demo["error"] is None
    assert deployed_demo["execution_arn"].endswith(f":{deployed_demo['id']}")


def test_the_models_route_resolves_the_deployed_model(stack: LocalStack, deployed_demo: dict[str, Any]) -> None:
    routes = {(route.method, route.path) for route in load_template(ROOT / "template.yaml").routes}
    if ("GET", f"{BASE}/models/{{embedding_model_id}}") not in routes:
        pytest.skip("template.yaml has no GET /models/{embedding_model_id} route yet")

    answer = call(stack, "GET", f"{BASE}/models/{DEMO_MODEL_NAME}")

    assert answer.status == 200, answer
    assert answer.body["embedding_model_id"] == DEMO_MODEL_NAME


def test_the_stage_prefixed_url_serves_the_same_routes(stack: LocalStack, deployed_demo: dict[str, Any]) -> None:
    answer = call(stack, "GET", f"/v1{BASE}/deploy/{deployed_demo['id']}")

    assert answer.status == 200
    assert answer.body["id"] == deployed_demo["id"]


def test_unknown_routes_answer_like_api_gateway(stack: LocalStack) -> None:
    for method, path in (("GET", "/nowhere"), ("DELETE", f"{BASE}/deploy")):
        answer = call(stack, method, path, credentials=False)
        assert answer.status == 403
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.body["code"] == "missing_authentication_token"
        assert answer.body["status"] == 403


def test_the_demo_model_is_removed_to_succeeded(stack: LocalStack, deployed_demo: dict[str, Any]) -> None:
    task = run_to_success(stack, "delete", DEMO_MODEL_NAME)

    assert task["metadata"]["deletion_type"] == "manual"


def test_a_model_registered_through_the_aws_endpoint_deploys(stack: LocalStack) -> None:
    session = boto3.session.Session(aws_access_key_id="any", aws_secret_access_key="thing", region_name="us-east-1")
    role = session.client("iam", endpoint_url=stack.aws_url).create_role(
        RoleName="my-team-sagemaker-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    session.client("sagemaker", endpoint_url=stack.aws_url).create_model(
        ModelName="my-team-embedder",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/embedder:1"},
        ExecutionRoleArn=role["Role"]["Arn"],
        Tags=[{"Key": "team", "Value": DEMO_TEAM}],  # as the banner says: the default caller's team owns it
    )

    task = run_to_success(stack, "deploy", "my-team-embedder")

    assert task["embedding_model_id"] == "my-team-embedder"
    assert task["metadata"]["requested_by"]["team"] == DEMO_TEAM


def test_unsigned_or_badly_signed_requests_are_refused_like_api_gateway(stack: LocalStack) -> None:
    path = f"{BASE}/deploy-status/{DEMO_MODEL_NAME}"
    forged = Credentials(stack.credentials.access_key, "not-the-secret")

    unsigned = call(stack, "GET", path, credentials=False)
    wrong = call(stack, "GET", path, credentials=forged)
    unknown = call(stack, "GET", path, credentials=Credentials("AKIANOBODY0000000000", "x"))

    assert (unsigned.status, unsigned.body["code"]) == (403, "missing_authentication_token")
    assert (wrong.status, wrong.body["code"]) == (403, "invalid_signature")
    assert wrong.body["detail"].startswith("The request signature we calculated does not match")
    assert wrong.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert (unknown.status, unknown.body["code"]) == (403, "invalid_signature")
    assert unknown.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"


def test_a_role_sessions_credentials_call_as_that_role(stack: LocalStack) -> None:
    """As the banner says: assume a demo role at the AWS endpoint, sign with the session's credentials."""
    account = stack.text().split("account ", 1)[1].split(")", 1)[0]
    sts = boto3.client(
        "sts",
        endpoint_url=stack.aws_url,
        region_name="us-east-1",
        aws_access_key_id=stack.credentials.access_key,
        aws_secret_access_key=stack.credentials.secret_key,
    )

    def as_role(name: str) -> Credentials:
        answer = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{name}", RoleSessionName="me")["Credentials"]
        return Credentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"])

    body = {"embedding_model_id": DEMO_MODEL_NAME, "instance_type": "ml.p5.48xlarge"}
    untagged = call(
        stack,
        "POST",
        f"{BASE}/deploy",
        {"embedding_model_id": DEMO_MODEL_NAME},
        credentials=as_role(DEMO_UNTAGGED_ROLE),
    )
    # The owner role passes authorization; an instance type past the cost limits keeps it from writing.
    owner = call(stack, "POST", f"{BASE}/deploy", body, credentials=as_role(DEMO_OWNER_ROLE))

    assert untagged.status == 403, untagged
    assert untagged.body["code"] == "forbidden"
    assert untagged.body["tag_key"] == "team"
    assert owner.status == 422, owner
    assert owner.body["code"] == "cost_limit_exceeded"
    assert f"--role-arn arn:aws:iam::{account}:role/{DEMO_UNTAGGED_ROLE}" in stack.text(), "banner"


def test_the_task_events_it_published_are_printed_newest_first(
    stack: LocalStack, deployed_demo: dict[str, Any]
) -> None:
    task_id = deployed_demo["id"]

    def printed() -> list[str]:
        answer = subprocess.run(
            [sys.executable, "-m", "local_stack", "events", "--endpoint-url", stack.aws_url, task_id],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return answer.stdout.splitlines()

    deadline = time.monotonic() + TASK_TIMEOUT
    lines = printed()
    while not any(line.split()[-1] == "succeeded" for line in lines if line.split()) and time.monotonic() < deadline:
        time.sleep(0.2)
        lines = printed()

    statuses = [line.split()[-1] for line in lines if "  status  " in line]
    assert statuses == ["succeeded", "in_progress", "pending"]
    steps = [line.split()[-1] for line in lines if "  step  " in line]
    assert steps[0] == "MarkSucceeded"
    assert steps[-1] == "ProvisionGreen"
    assert all(task_id in line for line in lines)


def test_a_burst_of_concurrent_requests_all_get_answers_and_every_task_succeeds(stack: LocalStack) -> None:
    """20 signed POST /deploy at once (one per model, as a model takes one task at a time): no connection
    reset, no 504, each a 202 whose task succeeds."""
    session = boto3.session.Session(aws_access_key_id="any", aws_secret_access_key="thing", region_name="us-east-1")
    role = session.client("iam", endpoint_url=stack.aws_url).create_role(
        RoleName="burst-sagemaker-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    sagemaker = session.client("sagemaker", endpoint_url=stack.aws_url)
    models = [f"burst-embedder-{n:02d}" for n in range(BURST)]
    for model in models:
        sagemaker.create_model(
            ModelName=model,
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/embedder:1"},
            ExecutionRoleArn=role["Role"]["Arn"],
            Tags=[{"Key": "team", "Value": DEMO_TEAM}],
        )
    barrier = threading.Barrier(BURST)

    def deploy(model: str) -> Answer:
        barrier.wait(timeout=60)
        return call(stack, "POST", f"{BASE}/deploy", {"embedding_model_id": model})

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        answers = list(pool.map(deploy, models))  # a reset connection raises here

    refused = {model: answer.body for model, answer in zip(models, answers, strict=True) if answer.status != 202}
    assert not refused, refused
    assert [answer.body["embedding_model_id"] for answer in answers] == models
    # 20 workflows share this process with the polls: one GET per unfinished task per round, a round a second.
    pending = {answer.body["id"] for answer in answers}
    deadline = time.monotonic() + BURST_TIMEOUT
    while pending:
        for task_id in sorted(pending):
            read = call(stack, "GET", f"{BASE}/deploy/{task_id}")
            assert read.status in (200, 503), f"{read}\n--- local stack output ---\n{stack.text()[-4000:]}"
            if read.status == 200 and read.body["status"] in TERMINAL:
                assert read.body["status"] == "succeeded", read.body
                pending.discard(task_id)
        assert time.monotonic() < deadline, f"still running after {BURST_TIMEOUT:.0f} s: {sorted(pending)}"
        time.sleep(1)


def test_sigint_stops_everything_and_frees_the_ports(stack: LocalStack) -> None:
    ports = [int(url.rsplit(":", 1)[1]) for url in (stack.api_url, stack.aws_url)]

    stack.process.send_signal(signal.SIGINT)
    started = time.monotonic()
    returncode = stack.process.wait(timeout=60)
    stopped_in = time.monotonic() - started

    assert returncode == 0, stack.text()[-4000:]
    print(f"stopped in {stopped_in:.1f} s")  # promptness is bounded by the wait above, not timed
    assert "local stack stopped" in stack.text()
    assert "No application metrics to publish" not in stack.text()
    for port in ports:
        ensure_port_free("127.0.0.1", port, "freed")
