"""One switch for the whole emulated AWS: moto, in-process Lambda, SageMaker, and the deployed template.

`EmulatedAws` is for tests: moto intercepts boto3 in this process. `EmulatedAwsServer` runs moto's
threaded HTTP server in this process for clients outside it (`make run`, curl, another service);
because the server threads share this interpreter, the same class-level patches route Lambda and
SageMaker calls, and the Step Functions interpreter reaches the server through MOTO_PORT.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from moto import mock_aws
from moto.core.config import DefaultConfig, default_user_config
from moto.moto_api._internal.models import moto_api_backend
from moto.server import ThreadedMotoServer

from local_stack._patch import Lifecycle
from local_stack.autoscaling import set_deregister_permission
from local_stack.eventbridge import EventRules
from local_stack.executions import wait_for_execution
from local_stack.iam import (
    AUTOSCALING_DIMENSION_KEY,
    AUTOSCALING_NAMESPACE_KEY,
    Account,
    IamEnforcement,
    platform_client,
    scalable_target_arn,
)
from local_stack.iam import Request as IamRequest
from local_stack.lambdas import LambdaRouter, current_function
from local_stack.moto_patches import (
    AtomicDynamoDB,
    AutoscalingEmulator,
    CloudWatchEmulator,
    FastExecutions,
    LambdaInvokeRouting,
    SageMakerEmulator,
    StoppableExecutions,
)
from local_stack.service_models import SharedServiceModels
from local_stack.stack import DeployedFunction, DeployedStack, deploy, merged_environment
from local_stack.template import Template, load_template

MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
SERVER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


# How long stop() waits for stopped executions' threads to notice: a thread that outlives the
# emulator would carry on against whatever moto backend (or real endpoint) comes next.
EXECUTION_DRAIN_SECONDS = 10.0


def _join_new_threads(existing: set[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread not in existing and thread is not threading.current_thread() and thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))


SAGEMAKER_VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


class PortInUseError(OSError):
    """The port asked for is taken (moto's server would otherwise wait forever for its own start)."""


def ensure_port_free(host: str, port: int, what: str = "server") -> None:
    """Raise PortInUseError if `host:port` cannot be bound; port 0 (any free port) always can."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUseError(exc.errno, f"{what} port {host}:{port} is not available ({exc.strerror})") from None


class _Emulation(Lifecycle):
    """Shared lifecycle: start the AWS backend, install the patches, deploy, publish the environment."""

    def __init__(
        self,
        template: Template | Path | str,
        *,
        parameters: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        name_prefix: str = "",
        project_root: Path | str | None = None,
        apply_environment: bool = True,
    ) -> None:
        self.template = (
            template if isinstance(template, Template) else load_template(template, project_root=project_root)
        )
        self.parameters = dict(parameters or {})
        self.region = region
        self.name_prefix = name_prefix
        self.apply_environment = apply_environment
        self.endpoint_url: str | None = None
        self._stack: DeployedStack | None = None
        self._iam: IamEnforcement | None = None
        self._running: contextlib.ExitStack | None = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    @property
    def stack(self) -> DeployedStack:
        if self._stack is None:
            raise RuntimeError("the emulator is not started")
        return self._stack

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(region_name=self.region)

    def client(self, service: str) -> Any:
        """A boto3 client for `service` that talks to this emulator (one per service: building a
        client costs tens of milliseconds, and tests ask for them all the time)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self._new_client(service)
            return self._clients[service]

    def _new_client(self, service: str) -> Any:
        return platform_client(self.session().client(service, endpoint_url=self.endpoint_url))  # type: ignore[call-overload]

    def run_execution(
        self, state_machine: str, payload: Any = None, *, name: str | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Start an execution of a state machine (logical id or ARN) and wait for it to end."""
        machine = self.stack.state_machines.get(state_machine)
        sfn = self.client("stepfunctions")
        started = sfn.start_execution(
            stateMachineArn=machine.arn if machine else state_machine,
            name=name or uuid.uuid4().hex,
            input=json.dumps({} if payload is None else payload),
        )
        return wait_for_execution(sfn, started["executionArn"], timeout=timeout)

    def start(self) -> None:
        if self._running is not None:
            return
        with contextlib.ExitStack() as running:
            self._start_backend(running)
            running.enter_context(LambdaInvokeRouting())
            router = running.enter_context(LambdaRouter())
            running.enter_context(SageMakerEmulator())
            running.enter_context(CloudWatchEmulator())
            running.enter_context(AutoscalingEmulator())
            running.callback(set_deregister_permission(self._caller_may_deregister_scaling))
            running.enter_context(AtomicDynamoDB())
            running.enter_context(StoppableExecutions())
            running.enter_context(FastExecutions())
            self._stack = deploy(
                self.template,
                parameters=self.parameters,
                region=self.region,
                name_prefix=self.name_prefix,
                clients=self.client,
            )
            running.callback(setattr, self, "_stack", None)
            functions = {key: self._as_invoked(function) for key, function in self._stack.functions.items()}
            self._stack = dataclasses.replace(
                self._stack, functions=functions, environment=merged_environment(functions.values())
            )
            for function in functions.values():
                router.add(function)
            self._iam = running.enter_context(IamEnforcement(self._stack))
            running.callback(setattr, self, "_iam", None)
            resolve = self._stack.resolver().resolve  # a pattern may !Sub the stack's names
            patterns = {
                key: tuple(resolve(dict(pattern)) for pattern in spec.event_patterns)
                for key, spec in self.template.functions.items()
            }
            rules = [(p, f.arn) for f in functions.values() for p in patterns.get(f.logical_id, ())]
            lambda_client = self.client("lambda")
            running.enter_context(
                EventRules(rules, lambda arn, payload: lambda_client.invoke(FunctionName=arn, Payload=payload))
            )
            if self.apply_environment:
                running.enter_context(mock.patch.dict(os.environ, self.process_environment()))
            running.callback(_join_new_threads, set(threading.enumerate()), EXECUTION_DRAIN_SECONDS)
            running.callback(self._stop_running_executions)
            self._running = running.pop_all()

    def _caller_may_deregister_scaling(self) -> bool:
        """Whether the function calling DeleteEndpoint now (none: a test or tool, with every permission) may
        application-autoscaling:DeregisterScalableTarget a SageMaker variant's target, by its own role."""
        function, enforcement = current_function(), self._iam
        if function is None or enforcement is None:
            return True
        account = Account(self.stack.resolver().pseudo.partition, self.region, self.stack.account_id)
        request = IamRequest(
            "application-autoscaling:DeregisterScalableTarget",
            scalable_target_arn(account, "endpoint/any/variant/AllTraffic"),
            {AUTOSCALING_NAMESPACE_KEY: ("sagemaker",), AUTOSCALING_DIMENSION_KEY: (SAGEMAKER_VARIANT_DIMENSION,)},
        )
        return enforcement.allows(function, request)

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.close()
        with self._clients_lock:
            self._clients.clear()

    def _as_invoked(self, function: DeployedFunction) -> DeployedFunction:
        """The function as this emulator runs it: the template declares AWS_ENDPOINT_URL empty (for
        `sam local`'s overrides; botocore ignores an empty value), and here it names this emulator, or
        is left out where moto intercepts in-process, as `sam local --env-vars` would set it."""
        environment = {key: value for key, value in function.environment.items() if key != ENDPOINT_VARIABLE}
        if self.endpoint_url is not None and ENDPOINT_VARIABLE in function.environment:
            environment[ENDPOINT_VARIABLE] = self.endpoint_url
        return dataclasses.replace(function, environment=environment)

    def process_environment(self) -> dict[str, str]:
        """Variables the handlers need in this process: the functions' own plus what Lambda provides."""
        return {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, **self.stack.environment}

    def _start_backend(self, running: contextlib.ExitStack) -> None:
        raise NotImplementedError

    def _stop_running_executions(self) -> None:
        """Stop executions still waiting or polling, so their threads do not outlive the backend."""
        sfn = self.client("stepfunctions")
        with contextlib.suppress(BotoCoreError, ClientError):
            for machine in self.stack.state_machines.values():
                pages = sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=machine.arn, statusFilter="RUNNING"
                )
                for page in pages:
                    for execution in page["executions"]:
                        sfn.stop_execution(executionArn=execution["executionArn"], error="EmulatorStopped")


class EmulatedAws(_Emulation):
    """In-process emulation under `moto.mock_aws`: `with EmulatedAws("template.yaml") as aws: aws.stack`.

    AWS_ENDPOINT_URL* variables are hidden while it runs: boto3 would otherwise send calls to that
    endpoint (say, a `make run` server left in the shell) instead of letting moto intercept them.
    Sessions made while it runs share botocore's service models (service_models.py): tests start one
    emulator after another, and the project's clients are rebuilt for each.
    """

    # Its clients, kept for the process: they name no endpoint (moto intercepts whichever mock runs) and
    # carry nothing of one emulator, so the next emulator (the next test) need not build them again.
    _shared_clients: ClassVar[dict[tuple[str, ...], Any]] = {}
    _shared_clients_lock: ClassVar[threading.Lock] = threading.Lock()

    def _new_client(self, service: str) -> Any:
        configured = sorted(item for item in os.environ.items() if item[0].startswith("AWS_"))  # what a session reads
        key = (service, self.region, *(f"{name}={value}" for name, value in configured))
        with self._shared_clients_lock:
            if key not in self._shared_clients:
                self._shared_clients[key] = super()._new_client(service)
            return self._shared_clients[key]

    def _start_backend(self, running: contextlib.ExitStack) -> None:
        running.enter_context(SharedServiceModels())
        running.enter_context(mock.patch.dict(os.environ))
        for key in [key for key in os.environ if key.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[key]
        running.enter_context(mock_aws(config=MOTO_CONFIG))


class EmulatedAwsServer(_Emulation):
    """Moto's HTTP server in this process, with the template deployed; `port=0` picks a free port."""

    def __init__(
        self,
        template: Template | Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 5000,
        parameters: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        name_prefix: str = "",
        project_root: Path | str | None = None,
        apply_environment: bool = True,
        log_requests: bool = False,
    ) -> None:
        super().__init__(
            template,
            parameters=parameters,
            region=region,
            name_prefix=name_prefix,
            project_root=project_root,
            apply_environment=apply_environment,
        )
        self.host = host
        self.port = port
        self.log_requests = log_requests

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=SERVER_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=SERVER_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=self.region,
        )

    def process_environment(self) -> dict[str, str]:
        assert self.endpoint_url is not None
        return {**super().process_environment(), **SERVER_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url}

    def _start_backend(self, running: contextlib.ExitStack) -> None:
        running.enter_context(mock.patch.dict(default_user_config, MOTO_CONFIG))
        moto_api_backend.reset()
        running.callback(moto_api_backend.reset)
        if not self.log_requests:
            request_log = logging.getLogger("werkzeug")
            running.callback(request_log.setLevel, request_log.level)
            request_log.setLevel(logging.WARNING)
        ensure_port_free(self.host, self.port, "AWS endpoint")
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        running.callback(server.stop)
        host, port = server.get_host_and_port()
        self.port = port
        self.endpoint_url = f"http://{host}:{port}"
        running.callback(setattr, self, "endpoint_url", None)
        running.enter_context(mock.patch.dict(os.environ, {"MOTO_PORT": str(port)}))
