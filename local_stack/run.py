"""`python -m local_stack run`: the whole service on this machine, no Docker, no AWS account.

Starts the emulated AWS (moto's server with every resource of template.yaml, Step Functions running
the ASL, Lambda steps running the project's handlers in this process), registers a demo SageMaker
model, serves the template's API routes like API Gateway, prints where everything is, and keeps
serving until SIGINT or SIGTERM, which stop the API, the running executions and the AWS endpoint.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shlex
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO
from unittest import mock
from urllib.parse import urlsplit

from local_stack.api_gateway import LOCAL_CALLER_NAME, ApiGatewayServer
from local_stack.emulator import EmulatedAwsServer, ensure_port_free
from local_stack.faults import Fault, FaultPlan, install
from local_stack.run_config import (
    DEFAULT_API_PORT,
    DEFAULT_AWS_PORT,
    DEFAULT_HOST,
    DEFAULT_REGION,
    DEMO_MODEL_ENVIRONMENT,
    DEMO_MODEL_IMAGE,
    DEMO_MODEL_NAME,
    DEMO_MODEL_ROLE,
    DEMO_OWNER_ROLE,
    DEMO_TEAM,
    DEMO_UNTAGGED_ROLE,
    create_sample_caller,
    run_parameters,
    trust_policy,
)
from local_stack.sagemaker import register_model
from local_stack.task_events import StreamPump, record_events, stream_mappings
from local_stack.template import Template, load_template

BASE_PATH = "/internal/inference-deployment"
# Outside Lambda there is no X-Ray daemon and no CloudWatch agent to read metrics: keep both quiet.
# Moto's ASL interpreter logs every step failure, even caught ones, as an ERROR with the state's whole
# parse tree; `python -m local_stack executions <task id>` shows the failures readably instead.
SFN_INTERPRETER_LOGGER = "moto.stepfunctions.parser"
QUIET_POWERTOOLS = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}


@dataclass(frozen=True)
class RunOptions:
    template: Path = Path("template.yaml")
    host: str = DEFAULT_HOST
    api_port: int = DEFAULT_API_PORT
    aws_port: int = DEFAULT_AWS_PORT
    region: str = DEFAULT_REGION
    parameters: Mapping[str, str] = field(default_factory=dict)
    log_requests: bool = True
    faults: tuple[Fault, ...] = ()


def serve(
    options: RunOptions,
    *,
    started: float | None = None,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
) -> int:
    """Run until `stop` is set (by SIGINT/SIGTERM when called from the main thread); 0 on a clean stop."""
    started = time.monotonic() if started is None else started
    # Metrics are off here (POWERTOOLS_METRICS_DISABLED), yet log_metrics still warns on every request.
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    stop = stop or threading.Event()
    template = load_template(options.template)
    add_import_paths(template)
    with contextlib.ExitStack() as running:
        running.enter_context(_stop_on_signals(stop))
        running.enter_context(
            mock.patch.dict(os.environ, {**QUIET_POWERTOOLS, **_present(QUIET_POWERTOOLS), **ISOLATED_CONFIG})
        )
        for key in [key for key in os.environ if _reaches_elsewhere(key)]:
            del os.environ[key]
        running.enter_context(_quiet_logger(SFN_INTERPRETER_LOGGER))
        ensure_port_free(options.host, options.api_port, "API")
        aws = EmulatedAwsServer(
            template,
            host=options.host,
            port=options.aws_port,
            parameters=run_parameters(template, options.parameters),
            region=options.region,
        )
        running.callback(print, "local stack stopped", file=out, flush=True)
        running.enter_context(aws)
        for pump in start_stream_pumps(aws, template):
            running.callback(pump.stop)
        owner_tag = str(template.parameter_values(aws.parameters).get("OwnerTagKey", "team"))
        model_role = register_demo_model(aws, owner_tag)
        keys = create_demo_principals(aws, owner_tag)
        _warm_handlers(aws, out)
        if options.faults:
            install_faults(options.faults, out)
        api = ApiGatewayServer.from_stack(
            aws.stack,
            host=options.host,
            port=options.api_port,
            log=sys.stderr if options.log_requests else None,
        )
        running.enter_context(api)
        print(
            banner(aws, api, seconds=ready_seconds(started), model_role=model_role, keys=keys, owner_tag=owner_tag),
            file=out,
            flush=True,
        )
        stop.wait()
        print("stopping ...", file=out, flush=True)
    return 0


def start_stream_pumps(aws: EmulatedAwsServer, template: Template) -> list[StreamPump]:
    """Record every event of the stack's buses, and feed each stream-triggered function its table's stream."""
    buses = [aws.stack.resources[i].ref for i, r in template.resources.items() if r.type == "AWS::Events::EventBus"]
    if buses:
        record_events(aws.client("events"), aws.client("logs"), buses)
    pumps = []
    for mapping in stream_mappings(template.resources):
        pump = StreamPump(aws, mapping)
        pump.start()
        pumps.append(pump)
    return pumps


def install_faults(faults: Iterable[Fault], out: TextIO) -> FaultPlan:
    """Plan faults on the service's own clients (the handlers run in this process and share them)."""
    clients = importlib.import_module("inference_deploy.adapters.aws")
    plan = FaultPlan()
    install(plan, faults, lambda service: getattr(clients, service.replace("-", "_"))())
    for fault in faults:
        where = f" in {fault.in_function}" if fault.in_function else ""
        print(f"fault planned: {fault.service} {fault.operation} {fault.kind} x{fault.times}{where}", file=out)
    return plan


def register_demo_model(aws: EmulatedAwsServer, owner_tag: str = "team") -> str:
    """Create the demo SageMaker Model (dummy image, an execution role made in moto), owned by DEMO_TEAM;
    return the role ARN."""
    settings = {key.removeprefix("EMULATOR_").lower(): value for key, value in DEMO_MODEL_ENVIRONMENT.items()}
    return register_model(
        aws.client,
        DEMO_MODEL_NAME,
        role_name=DEMO_MODEL_ROLE,
        image=DEMO_MODEL_IMAGE,
        tags={owner_tag: DEMO_TEAM},
        **settings,
    )


@dataclass(frozen=True)
class AccessKey:
    """An emulated IAM user's access key: what signs calls to the local API (SigV4)."""

    user_arn: str
    access_key_id: str
    secret_access_key: str


def create_demo_principals(aws: EmulatedAwsServer, owner_tag: str = "team") -> AccessKey:
    """The callers of the local run, in moto's IAM: the local-developer user (whose access key the banner
    prints) and one demo role carry the demo model's owner tag; the other demo role carries none; the CI
    role of the sample events is an admin (AdminPrincipalArnPatterns)."""
    iam = aws.client("iam")
    trust = trust_policy(aws.stack.account_id)
    owner = [{"Key": owner_tag, "Value": DEMO_TEAM}]
    user = iam.create_user(UserName=LOCAL_CALLER_NAME, Tags=owner)["User"]
    key = iam.create_access_key(UserName=LOCAL_CALLER_NAME)["AccessKey"]
    iam.create_role(RoleName=DEMO_OWNER_ROLE, AssumeRolePolicyDocument=trust, Tags=owner)
    iam.create_role(RoleName=DEMO_UNTAGGED_ROLE, AssumeRolePolicyDocument=trust)
    create_sample_caller(iam, aws.stack.account_id)
    return AccessKey(user["Arn"], key["AccessKeyId"], key["SecretAccessKey"])


def add_import_paths(template: Template) -> None:
    """Put the handlers' and layers' directories on sys.path, as Lambda lays them out."""
    for path in reversed(template.import_paths()):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def banner(
    aws: EmulatedAwsServer,
    api: ApiGatewayServer,
    *,
    seconds: float,
    model_role: str,
    keys: AccessKey,
    owner_tag: str = "team",
) -> str:
    assert aws.endpoint_url is not None
    aws_url = aws.endpoint_url.replace("://0.0.0.0:", "://127.0.0.1:")
    routes = sorted(api.gateway.table.routes, key=lambda route: (route.resource, route.method))
    stages = sorted({route.stage for route in routes})
    deploy = {"embedding_model_id": DEMO_MODEL_NAME}
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    port = urlsplit(aws_url).port
    make_port = "" if port == DEFAULT_AWS_PORT else f" AWS_PORT={port}"
    lines = [
        f"Local stack ready in {seconds:.1f} s ({aws.stack.template.path.name}, {aws.region}, "
        f"account {aws.stack.account_id})",
        f"  API  {api.url}   (also under the stage: {', '.join(f'{api.url}/{stage}' for stage in stages)})",
        f"  AWS  {aws_url}   (any credentials, region {aws.region}: aws --endpoint-url {aws_url} ...)",
        f"  Docs {api.url}/docs   (the API reference: Swagger UI on openapi.json)",
        "",
        "Routes:",
        *(f"  {route.method:<6} {route.resource}  -> {route.function_id}" for route in routes),
        "",
        "Every route checks SigV4 like API Gateway with AWS_IAM (unsigned: 403). You are the IAM user",
        f"{keys.user_arn} ({owner_tag}={DEMO_TEAM}, the demo model's owner tag); sign with its key:",
        f"  export AWS_ACCESS_KEY_ID={keys.access_key_id} AWS_SECRET_ACCESS_KEY={keys.secret_access_key}",
        f"  sign=(--aws-sigv4 'aws:amz:{aws.region}:execute-api' --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\")",
        f"SageMaker model {DEMO_MODEL_NAME} is registered; deploy it:",
        f"  curl -sS \"${{sign[@]}}\" -X POST {api.url}{BASE_PATH}/deploy -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(deploy))}",
        "and follow it (the task, then its Step Functions execution, named by the task id):",
        f'  curl -sS "${{sign[@]}}" {api.url}{BASE_PATH}/deploy-status/{DEMO_MODEL_NAME}',
        f"  {python} -m local_stack executions --endpoint-url {aws_url} [TASK_ID]",
        f"  (or: make executions{make_port} [TASK=...])",
        f"and the task events the stack published, newest first: make events{make_port} [TASK=...]",
        "Call as a role: its session's credentials sign, with their token in X-Amz-Security-Token (role",
        f"{DEMO_UNTAGGED_ROLE} has no {owner_tag} tag: 403; {DEMO_OWNER_ROLE} has {owner_tag}={DEMO_TEAM}: 202):",
        f"  aws --endpoint-url {aws_url} --region {aws.region} sts assume-role --role-session-name me "
        f"--role-arn arn:aws:iam::{aws.stack.account_id}:role/{DEMO_UNTAGGED_ROLE}",
        "  then curl with --user 'ASIA...:SECRET' -H 'X-Amz-Security-Token: TOKEN'",
        "Register another model (any name; the role exists; the tag makes it yours):",
        f"  aws --endpoint-url {aws_url} --region {aws.region} "
        "sagemaker create-model --model-name my-model "
        f"--primary-container Image={DEMO_MODEL_IMAGE} --execution-role-arn {model_role} "
        f"--tags Key={owner_tag},Value={DEMO_TEAM}",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def ready_seconds(started: float) -> float:
    """Seconds since the process started (Linux), else since `started` (a monotonic time)."""
    age = process_age()
    return age if age is not None else time.monotonic() - started


def process_age() -> float | None:
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def _warm_handlers(aws: EmulatedAwsServer, out: TextIO) -> None:
    """Import every handler now, so the first requests do not pay for it; report the broken ones."""
    for function in aws.stack.functions.values():
        try:
            function.load_handler()
        except Exception as exc:  # noqa: BLE001 - invoking it will answer Runtime.ImportModuleError; say so early
            print(f"warning: {function.logical_id} cannot be loaded: {type(exc).__name__}: {exc}", file=out, flush=True)


def _reaches_elsewhere(variable: str) -> bool:
    """Variables that could send the handlers' AWS calls past the local endpoint, to a real account:
    a profile, a session token, a per-service endpoint URL."""
    return variable in _ELSEWHERE or variable.startswith("AWS_ENDPOINT_URL_")


_ELSEWHERE = frozenset(
    {
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_USE_FIPS_ENDPOINT",
        "AWS_USE_DUALSTACK_ENDPOINT",
    }
)
# No shared config or credentials file is read either: nothing in ~/.aws can point anywhere.
ISOLATED_CONFIG = {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


def _present(variables: Mapping[str, str]) -> dict[str, str]:
    """The variables of `variables` already set in the environment (those win)."""
    return {key: os.environ[key] for key in variables if key in os.environ}


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            print("stopping now", file=sys.stderr, flush=True)
            os._exit(130)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
