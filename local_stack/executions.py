"""Waiting for Step Functions executions, which moto runs in background threads."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from moto.core.models import botocore_stubber
from moto.core.responses import EmptyResult
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.responses import StepFunctionResponse

from local_stack._patch import Method

TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


class ExecutionTimeout(TimeoutError):
    """The execution was still running when the wait gave up."""


class _Endings:
    """Counts the executions that ended in this process (moto's workers run here, also behind an in-process
    server), so a waiter sleeps until one ends instead of polling DescribeExecution: each poll is a moto
    request competing with the very execution it waits for, for the GIL and the machine's cores."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    @property
    def count(self) -> int:
        with self._changed:
            return self._count

    def one_ended(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait_after(self, seen: int, timeout: float) -> None:
        """Until an execution ends after `seen` was read (at once if one already has), or `timeout`."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen, timeout=timeout)


ENDINGS = _Endings()


def wait_for_execution(
    sfn: Any, execution_arn: str, *, timeout: float = 10.0, interval: float = 0.02, max_interval: float = 0.25
) -> dict[str, Any]:
    """Wait until the execution ends; return its last description. An execution of this process wakes the
    wait as it ends; one elsewhere (a server in another process, AWS) is polled every `interval`, which
    doubles up to `max_interval`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = ENDINGS.count
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] in TERMINAL_STATUSES:
            return description
        left = deadline - time.monotonic()
        if left < 0:
            raise ExecutionTimeout(f"{execution_arn} still {description['status']} after {timeout}s")
        ENDINGS.wait_after(seen, min(interval, left))
        interval = min(interval * 2, max_interval)


def _announcing_the_end(original: Method) -> Method:
    """Moto's worker reports the execution's end (its status set): the waiters of this process wake."""

    def terminated(communication: Any) -> None:
        try:
            original(communication)
        finally:
            ENDINGS.one_ended()

    return terminated


# A just-started execution's worker builds its ASL environment and enters its first state on its own
# thread; a stop before that raised AttributeError or was silently lost in moto, while AWS stops a
# RUNNING execution at any moment.
_WORKER_START_SECONDS = 30.0


def _stop_once_running(original: Method) -> Method:
    def stop(worker: ExecutionWorker, stop_date: Any, error: str | None, cause: str | None) -> None:
        deadline = time.monotonic() + _WORKER_START_SECONDS
        while worker.env is None or worker.env._program_state is None:  # no public "started" flag
            if time.monotonic() > deadline:
                raise RuntimeError("the execution's worker never started")
            time.sleep(0.005)
        original(worker, stop_date=stop_date, error=error, cause=cause)
        # A state waiting for a task token would sit out its timeout first; AWS stops it at once.
        for endpoint in list(worker.env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()

    return stop


def _failing_task_with_cause(original: Method) -> Method:
    """Moto's SendTaskFailure drops the `cause`; AWS hands it to the state's Catch with the error."""

    def send_task_failure(response: StepFunctionResponse) -> Any:
        backend: Any = response.stepfunction_backend  # the ASL interpreter's backend, whose call takes a cause
        backend.send_task_failure(
            response._get_param("taskToken"), error=response._get_param("error"), cause=response._get_param("cause")
        )
        return EmptyResult()

    return send_task_failure


def _unless_stopped(original: Method) -> Method:
    """A stopped execution stays ABORTED. Moto's stop interrupts a task token wait, which then ends as
    timed out; a Catch of States.Timeout (the bake's wait) ran on and its error overwrote the stop."""

    def settle(env: Environment, *args: Any, **kwargs: Any) -> None:
        if isinstance(env._program_state, ProgramStopped):  # no public accessor that does not copy
            return
        original(env, *args, **kwargs)

    return settle


# Definitions whose parse trees are kept: the stack's three state machines, with room for the variants
# tests create (another template, a changed parameter), well short of holding every definition seen.
_PARSED_DEFINITIONS = 32


class _Trees:
    """The parse trees of the last definitions parsed in this process, kept across emulators."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trees: OrderedDict[str, Any] = OrderedDict()  # antlr4 ParserRuleContexts (no type stubs)

    def get(self, definition: str) -> Any:
        with self._lock:
            tree = self._trees.get(definition)
            if tree is not None:
                self._trees.move_to_end(definition)
            return tree

    def put(self, definition: str, tree: Any) -> None:
        with self._lock:
            self._trees[definition] = tree
            while len(self._trees) > _PARSED_DEFINITIONS:
                self._trees.popitem(last=False)


_TREES = _Trees()


def _parsing_each_definition_once(original: Method) -> Method:
    """Moto parses a definition (ANTLR, a tenth of a second for the deploy workflow) at CreateStateMachine
    and again at every StartExecution; the tree of one definition text is always the same, so each text
    is parsed once per process. The tree is only read; each execution still gets evaluation components
    of its own (the preprocessor's output), so no execution state is shared. Syntax errors are not kept."""

    def parse(definition: str) -> tuple[EvalComponent, Any]:
        tree = _TREES.get(definition)
        if tree is None:
            program, tree = original(definition)
            _TREES.put(definition, tree)
            return program, tree
        return Preprocessor().visit(tree), tree

    return staticmethod(parse)


_VALIDATED: set[str] = set()
_VALIDATED_LOCK = threading.Lock()


def _validating_each_definition_once(original: Method) -> Method:
    """CreateStateMachine validates by building the whole program and dropping it; a definition text that
    passed once passes again (parsing is deterministic), so each text is validated once per process.
    A definition that fails is refused every time: a failure is not kept."""

    def validate(definition: str) -> None:
        with _VALIDATED_LOCK:
            if definition in _VALIDATED:
                return
        original(definition=definition)
        with _VALIDATED_LOCK:
            if len(_VALIDATED) >= _PARSED_DEFINITIONS:
                _VALIDATED.clear()
            _VALIDATED.add(definition)

    return staticmethod(validate)


_LAMBDA_CLIENTS: dict[tuple[str, str], Any] = {}
_LAMBDA_CLIENTS_LOCK = threading.Lock()


def _one_client_per_service(original: Method) -> Method:
    """Moto builds a new boto3 client for every Lambda task it runs (tens of milliseconds each, a few
    per workflow step). In this process (moto intercepting, no endpoint) the client carries nothing of
    one call, so one per region and service serves them all; against a server each call still gets
    its own, as moto makes it."""

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if not botocore_stubber.enabled:
            return original(region=region, service=service, state_credentials=state_credentials)
        with _LAMBDA_CLIENTS_LOCK:
            if (region, service) not in _LAMBDA_CLIENTS:
                _LAMBDA_CLIENTS[region, service] = original(
                    region=region, service=service, state_credentials=state_credentials
                )
            return _LAMBDA_CLIENTS[region, service]

    return boto_client_for
