"""`python -m local_stack <command>`: the project's Docker-less local stack, built from template.yaml.

  run         the whole service: emulated AWS on :5000, the API on :3000, a demo model (`make run`)
  aws         only the emulated AWS with the template deployed; prints its endpoint and names as JSON
  executions  the stack's Step Functions executions (recent ones, or one task's steps); any endpoint
  events      the task events `run` published (newest first, or one task's)
  env-vars    an --env-vars file for `sam local` aimed at the local stack (events/local-env.json)

`run` and `aws` put the handlers' and layers' directories on sys.path (from the template's CodeUri
and ContentUri), which is how Lambda itself lays them out; importing the package never does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local_stack import execution_report as report
from local_stack.emulator import SERVER_CREDENTIALS, EmulatedAwsServer, PortInUseError
from local_stack.faults import FaultSpecError, parse_faults
from local_stack.iam import format_calls
from local_stack.run import RunOptions, add_import_paths, serve
from local_stack.run_config import DEFAULT_API_PORT, DEFAULT_AWS_PORT, DEFAULT_HOST, DEFAULT_REGION
from local_stack.sam_env import render, sam_env_vars
from local_stack.task_events import format_events, published_events
from local_stack.template import load_template

DEFAULT_TEMPLATE = Path("template.yaml")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    command: int = args.handler(args)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="serve the whole service locally until Ctrl-C")
    run.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    run.add_argument(
        "--host", default=os.environ.get("LOCAL_STACK_HOST", DEFAULT_HOST), help="bind address [LOCAL_STACK_HOST]"
    )
    run.add_argument(
        "--api-port",
        type=int,
        default=_env_int("LOCAL_STACK_API_PORT", DEFAULT_API_PORT),
        help="API port, 0 for any free one [LOCAL_STACK_API_PORT, default %(default)s]",
    )
    run.add_argument(
        "--aws-port",
        type=int,
        default=_env_int("LOCAL_STACK_AWS_PORT", DEFAULT_AWS_PORT),
        help="emulated AWS port, 0 for any free one [LOCAL_STACK_AWS_PORT, default %(default)s]",
    )
    run.add_argument("--region", default=DEFAULT_REGION)
    run.add_argument(
        "--parameter", action="append", default=[], metavar="KEY=VALUE", help="template parameter override"
    )
    run.add_argument("--quiet", action="store_true", help="do not log API requests")
    run.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, service:Operation:kind[:times][@Function] (see local_stack/faults.py); "
        "repeatable, also comma-separated in LOCAL_STACK_FAULTS",
    )
    run.set_defaults(handler=_run)

    aws = commands.add_parser("aws", help="only the emulated AWS with the template deployed (JSON summary)")
    aws.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    aws.add_argument("--host", default=DEFAULT_HOST)
    aws.add_argument("--port", type=int, default=DEFAULT_AWS_PORT)
    aws.add_argument("--region", default=DEFAULT_REGION)
    aws.add_argument("--name-prefix", default="")
    aws.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE")
    aws.add_argument("--log-requests", action="store_true")
    aws.set_defaults(handler=_aws)

    executions = commands.add_parser(
        "executions", help="list the stack's executions, or print one task's steps", description=_executions_doc()
    )
    executions.add_argument("task_id", nargs="?", help="a task id (= execution name): print its steps")
    executions.add_argument("--endpoint-url", help="Step Functions endpoint (default: AWS_ENDPOINT_URL, else AWS)")
    executions.add_argument("--region")
    executions.add_argument("--profile")
    executions.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="names the state machines")
    executions.add_argument("--state-machine-arn", action="append", default=[], help="use these machines (repeatable)")
    executions.add_argument("--stack-name", help="use the state machines of this CloudFormation stack")
    executions.add_argument("--limit", type=int, default=20, help="how many executions to list (%(default)s)")
    executions.set_defaults(handler=_executions)

    events = commands.add_parser("events", help="the task events `make run` published, newest first")
    events.add_argument("task_id", nargs="?", help="only this task's events")
    events.add_argument("--endpoint-url", required=True, help="the local stack's AWS endpoint")
    events.add_argument("--region", default=DEFAULT_REGION)
    events.set_defaults(handler=_events)

    env_vars = commands.add_parser("env-vars", help="print a `sam local --env-vars` file aimed at the local stack")
    env_vars.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    env_vars.add_argument(
        "--endpoint-url", help="AWS endpoint as containers reach it (http://host.docker.internal:5000)"
    )
    env_vars.set_defaults(handler=_env_vars)

    iam_calls = commands.add_parser(
        "iam-calls", help="each call the functions made in a test session, with the statement that allowed it"
    )
    iam_calls.add_argument("report", nargs="?", type=Path, default=Path("test-output/iam-calls.json"))
    iam_calls.set_defaults(handler=_iam_calls)
    return parser


def _run(args: argparse.Namespace) -> int:
    try:
        faults = tuple(parse_faults(",".join([os.environ.get("LOCAL_STACK_FAULTS", ""), *args.fault])))
    except FaultSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = RunOptions(
        template=args.template,
        host=args.host,
        api_port=args.api_port,
        aws_port=args.aws_port,
        region=args.region,
        parameters=_parameters(args.parameter),
        log_requests=not args.quiet,
        faults=faults,
    )
    try:
        return serve(options, started=time.monotonic())
    except PortInUseError as exc:
        print(
            f"error: {exc.strerror}; pick another with --api-port/--aws-port "
            "(make run API_PORT=... AWS_PORT=...; port 0 picks a free one)",
            file=sys.stderr,
        )
        return 1


def _aws(args: argparse.Namespace) -> int:
    template = load_template(args.template)
    add_import_paths(template)
    server = EmulatedAwsServer(
        template,
        host=args.host,
        port=args.port,
        parameters=_parameters(args.parameter),
        region=args.region,
        name_prefix=args.name_prefix,
        log_requests=args.log_requests,
    )
    with server:
        summary = {
            "endpoint_url": server.endpoint_url,
            "region": args.region,
            "outputs": dict(server.stack.outputs),
            "environment": dict(server.stack.environment),
            "routes": [f"{route.method} {route.path} -> {route.function}" for route in server.stack.routes],
        }
        print(json.dumps(summary, indent=2), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def _executions_doc() -> str:
    return report.__doc__ or ""


def _executions(args: argparse.Namespace) -> int:
    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    if args.endpoint_url and session.get_credentials() is None:
        # The local stack takes any credentials; a machine with none configured should still work.
        session = boto3.session.Session(
            aws_access_key_id=SERVER_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=SERVER_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=args.region,
        )
    region = session.region_name or DEFAULT_REGION
    sfn = session.client("stepfunctions", region_name=region, endpoint_url=args.endpoint_url)
    now = datetime.now(UTC)
    try:
        if args.state_machine_arn:
            machines = report.refs_from_arns(args.state_machine_arn)
        elif args.stack_name:
            cloudformation = session.client("cloudformation", region_name=region, endpoint_url=args.endpoint_url)
            machines = report.stack_state_machines(cloudformation, args.stack_name)
        else:
            machines = report.find_state_machines(sfn, load_template(args.template))
        if not machines:
            print(
                "error: found none of the stack's state machines (try --state-machine-arn or --stack-name)",
                file=sys.stderr,
            )
            return 1
        if args.task_id is None:
            rows = report.recent_executions(sfn, machines, limit=args.limit)
            sys.stdout.write(report.format_listing(rows, now=now))
            return 0
        description = report.describe_task_execution(sfn, machines, args.task_id)
        events = report.execution_history(sfn, description["executionArn"])
        sys.stdout.write(report.format_history(description, events, now=now))
        return 0
    except report.ExecutionNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _events(args: argparse.Namespace) -> int:
    logs = boto3.session.Session(
        region_name=args.region,
        aws_access_key_id=SERVER_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=SERVER_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ).client("logs", endpoint_url=args.endpoint_url)
    try:
        sys.stdout.write(format_events(published_events(logs, args.task_id)))
    except (BotoCoreError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _env_vars(args: argparse.Namespace) -> int:
    sys.stdout.write(render(sam_env_vars(load_template(args.template), endpoint_url=args.endpoint_url)))
    return 0


def _iam_calls(args: argparse.Namespace) -> int:
    try:
        report = json.loads(args.report.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {args.report}: {exc} (run the tests first)", file=sys.stderr)
        return 1
    sys.stdout.write(format_calls(report) + "\n")
    return 0


def _parameters(items: list[str]) -> dict[str, str]:
    parameters = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator:
            raise SystemExit(f"error: --parameter {item!r} is not KEY=VALUE")
        parameters[key] = value
    return parameters


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"error: {name}={value!r} is not a port number") from None


if __name__ == "__main__":
    exit_code = main()
    # Whatever `run` started is stopped by now; skip the second or so the interpreter spends tearing
    # down moto's backends and modules, so Ctrl-C gives the shell back at once.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
