"""`python -m local_stack executions`: the stack's Step Functions executions, for operators.

Plain boto3 against any Step Functions endpoint, so it answers the same for the local stack
(`--endpoint-url http://127.0.0.1:5000`) and for a real account. Execution names are task ids.
The stack's state machines are found by ARN (`--state-machine-arn`), by CloudFormation stack
(`--stack-name`), or by name among list_state_machines: the template's explicit names, and
otherwise the names CloudFormation generates (`<LogicalId>-<random suffix>`) or the emulator gives
(`[prefix]<LogicalId>`).

Without a task id it lists recent executions (newest first); with one it prints the execution's
history as steps: each state entered and left, failures of Lambda functions and tasks with their
error and cause (retries show as repeated failures inside one state), and the final status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack.template import Template

DEFAULT_LIMIT = 20
CAUSE_WIDTH = 240
_STATE_MACHINE_TYPES = ("AWS::StepFunctions::StateMachine",)


@dataclass(frozen=True)
class StateMachineRef:
    name: str
    arn: str


@dataclass(frozen=True)
class ExecutionRow:
    name: str
    state_machine: str
    status: str
    start: datetime
    stop: datetime | None
    arn: str


class ExecutionNotFound(LookupError):
    """No state machine of the stack has an execution of that name."""


def name_patterns(template: Template) -> list[re.Pattern[str]]:
    """What the names of the template's state machines look like once deployed."""
    patterns = []
    for logical_id, spec in template.state_machines.items():
        if isinstance(spec.name, str):
            patterns.append(re.compile(re.escape(spec.name)))
        elif isinstance(spec.name, dict) and isinstance(spec.name.get("Fn::Sub"), str):
            # `!Sub "${AWS::StackName}-deploy"`: each ${...} is a name part of its own
            parts = re.split(r"\$\{[^}]+\}", spec.name["Fn::Sub"])
            patterns.append(re.compile("[A-Za-z0-9_-]+".join(re.escape(part) for part in parts)))
        else:
            logical = re.escape(logical_id)
            patterns.append(re.compile(rf"(?:[A-Za-z0-9_-]*?)?{logical}(?:-[A-Za-z0-9]{{6,}})?"))
    return patterns


def find_state_machines(sfn: Any, template: Template) -> list[StateMachineRef]:
    """The account's state machines whose names match the template's."""
    patterns = name_patterns(template)
    found = []
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if any(pattern.fullmatch(machine["name"]) for pattern in patterns):
                found.append(StateMachineRef(machine["name"], machine["stateMachineArn"]))
    return sorted(found, key=lambda machine: machine.name)


def stack_state_machines(cloudformation: Any, stack_name: str) -> list[StateMachineRef]:
    """The state machines of a deployed CloudFormation stack (their physical ids are the ARNs)."""
    found = []
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] in _STATE_MACHINE_TYPES and resource.get("PhysicalResourceId"):
                arn = resource["PhysicalResourceId"]
                found.append(StateMachineRef(arn.rsplit(":", 1)[-1], arn))
    return sorted(found, key=lambda machine: machine.name)


def refs_from_arns(arns: Iterable[str]) -> list[StateMachineRef]:
    return [StateMachineRef(arn.rsplit(":", 1)[-1], arn) for arn in arns]


def recent_executions(
    sfn: Any, machines: Iterable[StateMachineRef], *, limit: int = DEFAULT_LIMIT
) -> list[ExecutionRow]:
    """The newest `limit` executions across the machines, newest first."""
    rows = []
    for machine in machines:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine.arn, PaginationConfig={"MaxItems": limit}
        )
        for page in pages:
            for execution in page["executions"]:
                rows.append(
                    ExecutionRow(
                        name=execution["name"],
                        state_machine=machine.name,
                        status=execution["status"],
                        start=_utc(execution["startDate"]),
                        stop=_utc(execution["stopDate"]) if execution.get("stopDate") else None,
                        arn=execution["executionArn"],
                    )
                )
    rows.sort(key=lambda row: (row.start, row.name), reverse=True)
    return rows[:limit]


def format_listing(rows: Sequence[ExecutionRow], *, now: datetime) -> str:
    """A table: task id (execution name), state machine, status, start (UTC), duration."""
    if not rows:
        return "no executions yet\n"
    header = ("TASK ID", "STATE MACHINE", "STATUS", "STARTED (UTC)", "DURATION")
    table = [header] + [
        (
            row.name,
            row.state_machine,
            row.status,
            f"{row.start:%Y-%m-%d %H:%M:%S}",
            _duration((row.stop or now) - row.start) + ("" if row.stop else " so far"),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n" for line in table
    )


def describe_task_execution(sfn: Any, machines: Iterable[StateMachineRef], task_id: str) -> dict[str, Any]:
    """DescribeExecution of the execution named `task_id` on whichever machine has it."""
    for machine in machines:
        arn = _execution_arn(machine.arn, task_id)
        try:
            description: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            continue
        return description
    raise ExecutionNotFound(f"no execution named {task_id!r} on {', '.join(m.name for m in machines) or 'no machine'}")


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return sorted(events, key=lambda event: event["id"])


def format_history(description: Mapping[str, Any], events: Sequence[Mapping[str, Any]], *, now: datetime) -> str:
    """The execution's steps, in order, with offsets from its start; then its final status."""
    start = _utc(description["startDate"])
    stop = _utc(description["stopDate"]) if description.get("stopDate") else None
    machine = description["stateMachineArn"].rsplit(":", 1)[-1]
    lines = [f"{description['name']}  ({machine})  started {start:%Y-%m-%d %H:%M:%S} UTC"]
    for event in events:
        line = _event_line(event)
        if line is not None:
            lines.append(f"  {_offset(_utc(event['timestamp']) - start):>9}  {line}")
    status = description["status"]
    summary = f"{status} after {_duration((stop or now) - start)}" + ("" if stop else " so far")
    if description.get("error"):
        summary += f": {description['error']}"
        if description.get("cause"):
            summary += f" - {_short_cause(description['cause'])}"
    lines.append(f"status: {summary}")
    return "\n".join(lines) + "\n"


def _event_line(event: Mapping[str, Any]) -> str | None:
    kind: str = event["type"]
    if kind.endswith("StateEntered"):
        details = event.get("stateEnteredEventDetails") or {}
        return f"-> {details.get('name', '?')}  ({kind.removesuffix('StateEntered') or 'State'})"
    if kind.endswith("StateExited"):
        details = event.get("stateExitedEventDetails") or {}
        return f"<- {details.get('name', '?')}"
    if kind in ("ExecutionStarted", "ExecutionSucceeded"):
        return kind
    if kind.endswith(("Failed", "TimedOut", "Aborted")) or kind == "ExecutionRedriven":
        details = next((value for key, value in event.items() if key.endswith("EventDetails")), None) or {}
        error = details.get("error")
        cause = details.get("cause")
        text = f"!! {kind}"
        if error:
            text += f"  {error}"
        if cause:
            text += f": {_short_cause(cause)}"
        return text
    return None


def _short_cause(cause: str) -> str:
    """A Lambda error's cause is its JSON payload; its errorMessage says it best."""
    text = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        text = parsed["errorMessage"]
    text = " ".join(text.split())
    return text if len(text) <= CAUSE_WIDTH else text[: CAUSE_WIDTH - 3] + "..."


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _duration(delta: timedelta) -> str:
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _offset(delta: timedelta) -> str:
    return f"+{max(0.0, delta.total_seconds()):.2f}s"
