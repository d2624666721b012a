"""What every section shares: paths, the API events, a Lambda context, the Lambda-like environment of a
handler process, child processes that answer in JSON, and percentiles."""

from __future__ import annotations

import json
import math
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
WORK_DIR = BENCH_DIR / ".work"
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
LAYER_DIR = ROOT / "layers" / "common"
FUNCTIONS_DIR = ROOT / "functions"
BASELINE_DIR = BENCH_DIR / "baseline"

BASE_PATH = "/internal/inference-deployment"
MODEL = "embed-deploy-123"  # the model the sample events name
REGION = "us-east-1"
# The sample events' caller (assumed role ml-platform-ci) and every model the bench deploys carry this
# owner tag, and the bench's stack has no admin pattern: a create takes the owner's path, ListRoleTags then
# DescribeModel + ListTags, the calls of an ordinary caller (an admin's skips the model's tags).
CALLER_ROLE = "ml-platform-ci"
OWNER_TAGS = {"team": "bench"}

# route -> (the service's function directory, the baseline module, what it does)
ROUTES: dict[str, tuple[str, str, str]] = {
    "create": ("create_task", "create_task", "POST /deploy"),
    "get": ("read_task", "read_task", "GET /deploy/{task_id}"),
    "status": ("read_task", "read_task", "GET /deploy-status/{model}"),
}


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def route_event(route: str, *, task_id: str | None = None, model: str = MODEL) -> dict[str, Any]:
    """The API Gateway event of `route`, from the sample events in events/."""
    if route == "create":
        event = load_event("deploy")
        event["body"] = json.dumps({"embedding_model_id": model})
        return event
    if route == "get":
        if task_id is None:
            raise ValueError("GET /deploy/{task_id} needs a task id")
        event = load_event("get_deploy_task")
        event["path"] = f"{BASE_PATH}/deploy/{task_id}"
        event["pathParameters"] = {"task_id": task_id}
        event["requestContext"]["path"] = f"/v1{event['path']}"
        return event
    if route == "status":
        event = load_event("get_model_deploy_status")
        event["path"] = f"{BASE_PATH}/deploy-status/{model}"
        event["pathParameters"] = {"embedding_model_id": model}
        event["requestContext"]["path"] = f"/v1{event['path']}"
        return event
    raise ValueError(f"unknown route {route!r}")


@dataclass
class LambdaContext:
    """The context attributes Powertools reads."""

    function_name: str = "bench-function"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench-function"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/bench-function"
    log_stream_name: str = "2026/01/01/[$LATEST]bench"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def trace_header() -> str:
    """An X-Ray trace header as the Lambda runtime sets it in _X_AMZN_TRACE_ID (sampled)."""
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=1"


def base_environment() -> dict[str, str]:
    """A clean environment: nothing from ~/.aws or the shell can point a child at a real account."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    env.update(
        {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "PYTHONHASHSEED": "0",
        }
    )
    return env


def lambda_environment(
    aws_environment: Mapping[str, str],
    *,
    function: str,
    code_dir: Path,
    memory_mb: int,
    xray_daemon: str,
    tracing: bool | None,
) -> dict[str, str]:
    """What a handler process sees in Lambda: the stack's variables (pointed at the emulated AWS server),
    the runtime's own variables and an active X-Ray trace (segments go over UDP to `xray_daemon`, a
    socket the bench holds and never reads, as they go to the daemon in Lambda). `tracing` is whether
    the Powertools Tracer (X-Ray SDK subsegments) runs: None as the template configures the function
    (the API functions: not unless ApiTracerSubsegments), True or False to force it."""
    env = base_environment()
    env.update(aws_environment)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "_HANDLER": "app.lambda_handler",
            "_X_AMZN_TRACE_ID": trace_header(),
            "AWS_XRAY_DAEMON_ADDRESS": xray_daemon,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
    )
    if tracing is True:
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
        env["TRACER_SUBSEGMENTS"] = "true"
    elif tracing is False:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def tracer_on(env: Mapping[str, str]) -> bool:
    """Whether a handler process with this environment runs the Powertools Tracer (and the X-Ray SDK), as
    inference_deploy.observability decides it."""
    if env.get("TRACER_SUBSEGMENTS", "true").strip().lower() == "false":
        return False
    return env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in ("1", "true")


class ChildFailed(RuntimeError):
    """A child process ended with an error; its stderr is in the message."""


def run_child(
    module: str,
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    name: str,
    timeout: float,
) -> Any:
    """Run `python -m module args --out FILE` from the repository root; return what it wrote to FILE.

    Children answer in a file, not on stdout: handlers print their logs and metrics there."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    out = WORK_DIR / f"{name}.json"
    log = WORK_DIR / f"{name}.log"
    out.unlink(missing_ok=True)
    with log.open("w") as stderr:
        completed = subprocess.run(
            [sys.executable, "-m", module, *args, "--out", str(out)],
            cwd=ROOT,
            env=dict(env),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=timeout,
            check=False,
        )
    if completed.returncode != 0 or not out.exists():
        raise ChildFailed(f"{module} exited {completed.returncode}:\n{tail(log)}")
    return json.loads(out.read_text())


def stop_child(process: subprocess.Popen[str], *, timeout: float) -> None:
    """Let a worker child end on its own (its stdin is closed, or it was signalled), killing it after
    `timeout` seconds."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def write_json(path: str | Path, value: Any) -> None:
    Path(path).write_text(json.dumps(value, indent=2, sort_keys=False) + "\n")


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1) of unsorted samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean/min/max of samples (kept in the unit they come in)."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "p50": percentile(samples, 0.50),
        "p90": percentile(samples, 0.90),
        "p99": percentile(samples, 0.99),
        "mean": sum(samples) / len(samples),
        "min": min(samples),
        "max": max(samples),
    }


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else math.nan


def rounded(value: Any, digits: int = 3) -> Any:
    """Round every float in a JSON-like value for results.json (NaN, which JSON lacks, becomes null): to
    `digits` decimals, or under 1 to `digits` + 1 significant digits, so a unit price (the Lambda
    GB-second's $0.0000133334) is not written as 0.0."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return float(f"{value:.{digits + 1}g}") if 0 < abs(value) < 1 else round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


_owner_clients: dict[str, Any] = {}


def own_model(endpoint_url: str, name: str) -> None:
    """A SageMaker Model `name` on the emulated AWS server, owned (tagged) like the bench's caller. Its
    endpoints are never created here (executions do not run), so the model's container is only named."""
    import boto3  # noqa: PLC0415 - only the processes that deploy need it

    if endpoint_url not in _owner_clients:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        _owner_clients[endpoint_url] = session.client("sagemaker", endpoint_url=endpoint_url)
    _owner_clients[endpoint_url].create_model(
        ModelName=name,
        ExecutionRoleArn=f"arn:aws:iam::123456789012:role/{CALLER_ROLE}",
        PrimaryContainer={"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:bench"},
        Tags=[{"Key": key, "Value": value} for key, value in OWNER_TAGS.items()],
    )
