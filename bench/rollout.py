"""What a rollout costs in AWS terms, from happy-path deploys and a delete run on the emulated stack.

The child (`python -m bench.rollout`) runs template.yaml under `EmulatedAws` (moto in-process, the real
ASL on moto's interpreter, step Lambdas in-process) with zero waits, and for each task counts:

- state transitions: the `*StateEntered` events of the execution history (what Standard workflows bill);
- Lambda invocations: the API function, plus the `LambdaFunctionScheduled` events of the history;
- AWS calls the service makes, by operation: botocore `before-send` hooks on the service's own clients
  (each HTTP attempt, retries included), with DynamoDB request units priced by bench.dynamo_size;
- Lambda run time per invocation, measured in-process (no network: a floor), and an assumed figure
  that adds ASSUMED_CALL_MS per AWS call the invocation made.

The green wait is event-driven (logic/green_wait.py): AwaitGreen stores a task token and looks once,
SageMaker's state change event completes it, and each GreenEventWaitSeconds without an event costs
one fallback round (the state's States.Timeout retry: one billed transition, one AwaitGreen Lambda).
Deploys keep green Creating until the bench settles it, after a chosen number of fallback rounds, so
every count fits `fixed + per_round * rounds`, for a first deploy and for a redeploy that replaces a
serving endpoint (the usual rollout). State transitions are the `*StateEntered` events plus retries
(a state's Lambda or task scheduled again). The parent prices them at endpoint creations of 1, 5 and
10 minutes, with rounds = creation // GreenEventWaitSeconds (the template's default, read by the
child), and for comparison the poll loop this replaced (30 s polls, 3 transitions and a Lambda each).
The delay from green turning InService to SwitchTraffic is measured here too (local: moto's threads
and in-process Lambdas, no EventBridge hop).

A third deploy kind, `redeploy_baked`, is a redeploy with a bake: the bake is one task token wait
(AwaitBake) that times out at the bake's end, so its counts do not depend on the bake's length (the
bench bakes for BAKED_SECONDS); it makes no alarm, and RetireBlue reads green's metrics over it once.
`redeploy_baked_green_alarms` is the same bake asked to watch green with alarms (`green_alarms`).
Then every rollout is priced all-in (`all_in`), each assumption named
in ALL_IN_ASSUMPTIONS: Lambda INIT billed for every step (each assumed cold), the task-events pipeline
(PutEvents and the stream's publisher Lambda), X-Ray traces, API Gateway requests, CloudWatch API
calls and the bake's alarms (billed by the alarm-hour).

`embedding_guard` is what the embedding-compatibility guard adds to a redeploy (blue and green embed the
default probe set; a first deploy has no blue and calls nothing): its states, its Lambda, its
InvokeEndpoint calls, and their price. Real-time endpoints bill instance hours, not invocations, so the
guard's SageMaker cost is the time green runs longer before the switch (the step's duration).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import os
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import FUNCTIONS_DIR, LAYER_DIR, REGION, TEMPLATE, base_environment, run_child, write_json
from bench.dynamo_size import item_size, read_units, write_units

ASSUMED_CALL_MS = 30.0  # in-region AWS API latency assumed per call for the "assumed" Lambda durations
CREATION_MINUTES = (1, 5, 10)
# The design this replaced, for the README's comparison: a Wait + CheckGreen + Choice round every 30 s.
OLD_POLL_SECONDS = 30
OLD_POLL_ROUND = {"state_transitions": 3, "lambda_invocations": 1}
# The guard runs inside PrepareGreen after the smoke test: no state, invocation or progress write of its own;
# of the step's InvokeEndpoint calls, the smoke test's one is not the guard's.
GUARD_FUNCTION = "PrepareGreenFunction"
GUARD_INVOKE = "sagemaker-runtime.InvokeEndpoint"
SMOKE_TEST_INVOKES = 1
# An InvokeEndpoint of 32 short texts on a small embedding model (a bge-small-like model on a CPU instance;
# a GPU answers in a fraction): the emulated model's time is no guide, it runs in the measured process.
ASSUMED_INVOKE_MS = 150.0

PRICES_US_EAST_1 = {
    "sfn_standard_per_1000_transitions": 0.025,
    "lambda_per_1m_requests": 0.20,
    "lambda_arm64_per_gb_second": 0.0000133334,
    "dynamodb_on_demand_per_1m_write_units": 0.625,
    "dynamodb_on_demand_per_1m_read_units": 0.125,
    "eventbridge_per_1m_custom_events": 1.00,
    "xray_per_1m_traces_recorded": 5.00,
    "api_gateway_rest_per_1m_requests": 3.50,
    "cloudwatch_per_1000_api_requests": 0.01,
    "cloudwatch_metric_alarm_per_month": 0.10,
    "cloudwatch_composite_alarm_per_month": 0.50,
}
# The baked redeploys: the default bake (no alarm; green's metrics read at its end), and one that asks for
# alarms on green (green_alarms), each with the result key of what it adds to a redeploy.
BAKED_KINDS = {
    "redeploy_baked": "bake_adds_usd_per_1000",
    "redeploy_baked_green_alarms": "bake_with_green_alarms_adds_usd_per_1000",
}
GET_METRIC_DATA = "cloudwatch.GetMetricData"
BAKED_SECONDS = 2  # the bench's bake: its cost does not depend on its length (one wait that times out)
PRICED_BAKE_MINUTES = 10  # the bake the alarms are priced for when prorated to its length
HOURS_PER_MONTH = 730
ALL_IN_ASSUMPTIONS = {
    "lambda_init_ms": 800,
    "lambda_init": "every Lambda invocation of a rollout is a cold start, INIT billed (since 1 Aug 2025) at "
    "lambda_init_ms and the function's memory: steps run once per rollout, minutes apart",
    "task_events": "one Status Change event per status (pending, in_progress, the end) and one Step Change "
    "event per step run, each a PutEvents entry; the stream's publisher Lambda invoked once for the POST's "
    "insert and once per step (a step's progress writes fall in one 1-second batching window), running "
    "lambda_publisher_ms at 512 MB, cold twice per rollout (at its start and after the green wait, longer "
    "than an idle environment is kept)",
    "lambda_publisher_ms": 60,
    "xray": "every trace sampled: the POST, the execution (Step Functions tracing carries its steps), the "
    "final GET, each event-driven Lambda (green state change, bake alarm), and each publisher invocation "
    "when the template traces the publisher (Tracing Active; PassThrough records none from a stream)",
    "api_gateway": "two REST API requests per rollout (the POST and one GET of the ended task) and the GET's "
    "Lambda (cold, lambda_get_ms); each further status poll costs one more request and Lambda",
    "lambda_get_ms": 60,
    "cloudwatch": "the service's CloudWatch API calls (PutMetricAlarm, PutCompositeAlarm, DescribeAlarms, "
    "DeleteAlarms) at the API request price, and GetMetricData (a bake's end reading green's metrics) at the same "
    "price per metric requested; a bake's alarms (two metric alarms when the request asks, green_alarms, and a "
    "composite only when it names rollback_alarms) billed by the started hour (a month is 730 hours): a bake of "
    "up to about 55 minutes pays one alarm-hour each. `bake_adds_usd_per_1000` also gives them prorated to a "
    "10-minute bake (`alarms_prorated`), the figure if CloudWatch bills an alarm's lifetime finer than by the hour",
    "eventbridge": "AWS service events (SageMaker, CloudWatch) on the default bus and rule deliveries are free",
}

# ---------------------------------------------------------------- parent


def run(*, poll_rounds: tuple[int, int]) -> dict[str, Any]:
    env = base_environment()
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    args = ["--poll-rounds", ",".join(str(r) for r in poll_rounds)]
    measured: dict[str, Any] = run_child("bench.rollout", args, env=env, name="rollout", timeout=600)
    return price(measured)


METRICS = (
    "state_transitions",
    "lambda_invocations",
    "lambda_gb_seconds_measured",
    "lambda_gb_seconds_assumed",
    "sagemaker_calls",
    "dynamodb_calls",
    "stepfunctions_calls",
    "dynamodb_write_units",
    "dynamodb_read_units",
)


def price(measured: Mapping[str, Any]) -> dict[str, Any]:
    """Fit `fixed + per_round * rounds` per deploy kind, then price it at the measured rounds and at 20."""
    result: dict[str, Any] = dict(measured)
    result["prices_us_east_1"] = PRICES_US_EAST_1
    result["assumed_call_ms"] = ASSUMED_CALL_MS
    formulas: dict[str, Any] = {}
    for kind in ("first_deploy", "redeploy"):
        runs = [task for task in measured["tasks"] if task["kind"] == kind]
        low, high = sorted(runs, key=lambda task: task["poll_rounds"])[:2]
        span = high["poll_rounds"] - low["poll_rounds"]
        formula = {}
        for metric in METRICS:
            if metric in high["poll_round_gb_seconds"]:
                # Durations are noisy: a round costs the median poll invocation, not the difference of totals.
                per_round = high["poll_round_gb_seconds"][metric]
            else:
                per_round = (high["totals"][metric] - low["totals"][metric]) / span
            formula[metric] = {"fixed": low["totals"][metric] - per_round * low["poll_rounds"], "per_round": per_round}
        wait = int(measured["green_event_wait_seconds"])
        formulas[kind] = {
            "formula": formula,
            "at_measured_rounds": {str(t["poll_rounds"]): dollars(t["totals"]) for t in (low, high)},
            "by_creation_minutes": {
                str(minutes): {"rounds": (minutes * 60) // wait, **dollars(evaluate(formula, (minutes * 60) // wait))}
                for minutes in CREATION_MINUTES
            },
            "old_poll_loop_by_creation_minutes": {
                str(minutes): dollars(_old_poll_loop(formula, (minutes * 60) // OLD_POLL_SECONDS))
                for minutes in CREATION_MINUTES
            },
        }
    result["formulas"] = formulas
    delays = [t["in_service_to_switch_s"] for t in measured["tasks"] if t.get("in_service_to_switch_s") is not None]
    result["in_service_to_switch_s"] = (
        {"median": statistics.median(delays), "max": max(delays), "runs": len(delays)} if delays else None
    )
    result["delete"] = next(
        ({"poll_rounds": t["poll_rounds"], **dollars(t["totals"])} for t in measured["tasks"] if t["kind"] == "delete"),
        None,
    )
    baked = next((t for t in measured["tasks"] if t["kind"] == "redeploy_baked"), None)
    if baked is not None:
        result["redeploy_baked"] = {"poll_rounds": baked["poll_rounds"], **dollars(baked["totals"])}
    result["all_in_assumptions"] = ALL_IN_ASSUMPTIONS
    result["all_in_by_creation_minutes"] = {
        kind: {
            str(minutes): all_in(evaluate(formulas[kind]["formula"], (minutes * 60) // wait), extras)
            for minutes in CREATION_MINUTES
        }
        for kind, extras in _extras(measured["tasks"]).items()
        if kind in formulas
    }
    for kind, key in BAKED_KINDS.items():
        task = next((t for t in measured["tasks"] if t["kind"] == kind), None)
        if task is not None and "all_in" in task and "redeploy" in result["all_in_by_creation_minutes"]:
            result["all_in_by_creation_minutes"][kind] = _baked_all_in(task, formulas, measured["tasks"], wait)
            result[key] = _bake_adds(result["all_in_by_creation_minutes"], kind)
    result["embedding_guard"] = embedding_guard(measured)
    return result


def _baked_all_in(
    baked: Mapping[str, Any], formulas: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], wait: int
) -> dict[str, Any]:
    """A baked redeploy all-in: the bake's counts are its own; a creation longer than the fallback wait adds
    the redeploy's rounds."""
    per_round = {metric: terms["per_round"] for metric, terms in formulas["redeploy"]["formula"].items()}
    extras = _extras(tasks)[baked["kind"]]
    return {
        str(minutes): all_in({m: baked["totals"][m] + per_round[m] * ((minutes * 60) // wait) for m in METRICS}, extras)
        for minutes in CREATION_MINUTES
    }


def _bake_adds(by_minutes: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """What a bake adds to a redeploy, per 1,000: its workflow, and its alarms (by the started hour, and
    prorated to a PRICED_BAKE_MINUTES bake)."""
    redeploy = by_minutes["redeploy"]
    return {
        minutes: {
            "workflow": round(
                baked_priced["usd_per_1000"]["total"]
                - baked_priced["usd_per_1000"]["cloudwatch_alarms"]
                - redeploy[minutes]["usd_per_1000"]["total"],
                6,
            ),
            "alarms": baked_priced["usd_per_1000"]["cloudwatch_alarms"],
            "alarms_prorated": round(baked_priced["usd_per_1000"]["cloudwatch_alarms"] * PRICED_BAKE_MINUTES / 60, 6),
        }
        for minutes, baked_priced in by_minutes[kind].items()
    }


def _extras(tasks: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per deploy kind, what the all-in price needs beyond the counts (from its run at the fewest rounds)."""
    out: dict[str, dict[str, Any]] = {}
    for task in sorted(tasks, key=lambda t: t["poll_rounds"], reverse=True):
        if "all_in" in task:
            out[task["kind"]] = task["all_in"]
    return out


def all_in(counts: Mapping[str, float], extras: Mapping[str, Any]) -> dict[str, Any]:
    """The rollout's price with everything it makes AWS bill, by item, per 1,000 rollouts."""
    p, a = PRICES_US_EAST_1, ALL_IN_ASSUMPTIONS
    base = dollars(counts)["usd_per_1000"]
    gb_s = p["lambda_arm64_per_gb_second"]
    init_gb_s = sum(a["lambda_init_ms"] / 1000 * memory / 1024 for memory in extras["invocation_memory_mb"])
    events = extras["task_events"]
    publishes = extras["publisher_invocations"]
    publisher_gb_s = (2 * a["lambda_init_ms"] + publishes * a["lambda_publisher_ms"]) / 1000 * 512 / 1024
    get_gb_s = (a["lambda_init_ms"] + a["lambda_get_ms"]) / 1000 * 512 / 1024
    traces = 3 + extras["event_invocations"] + (publishes if extras.get("publisher_traced", True) else 0)
    alarm_hours = extras["bake_alarm_hours"]
    per_1000 = {
        "step_functions": base["step_functions"],
        "lambda_requests": base["lambda_requests"],
        "lambda_duration": base["lambda_duration_assumed"],
        "lambda_init": 1000 * init_gb_s * gb_s,
        "dynamodb": base["dynamodb"],
        "task_events_put_events": events * p["eventbridge_per_1m_custom_events"] / 1000,
        "task_events_publisher": 1000 * publisher_gb_s * gb_s + publishes * p["lambda_per_1m_requests"] / 1000,
        "xray": traces * p["xray_per_1m_traces_recorded"] / 1000,
        "api_gateway": 2 * p["api_gateway_rest_per_1m_requests"] / 1000
        + 1000 * get_gb_s * gb_s
        + p["lambda_per_1m_requests"] / 1000,
        "cloudwatch_api": (extras["cloudwatch_calls"] + extras.get("cloudwatch_metrics_requested", 0))
        * p["cloudwatch_per_1000_api_requests"],
        "cloudwatch_alarms": 1000
        * (
            alarm_hours["metric"] * p["cloudwatch_metric_alarm_per_month"]
            + alarm_hours["composite"] * p["cloudwatch_composite_alarm_per_month"]
        )
        / HOURS_PER_MONTH,
    }
    per_1000["total"] = sum(per_1000.values())
    return {
        "usd_per_1000": per_1000,
        "counts": {
            "lambda_cold_starts": len(extras["invocation_memory_mb"]),
            "task_events": events,
            "publisher_invocations": publishes,
            "xray_traces": traces,
            "api_requests": 2,
            "cloudwatch_calls": extras["cloudwatch_calls"],
            "cloudwatch_metrics_requested": extras.get("cloudwatch_metrics_requested", 0),
            "alarm_hours": alarm_hours,
        },
    }


def embedding_guard(measured: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the guard adds to a redeploy, per task (medians over the measured redeploys): its InvokeEndpoint
    calls in PrepareGreen. The step's measured time holds the emulated model's work (in-process), so the
    Lambda time is priced as the figures' math (measured apart) + ASSUMED_INVOKE_MS per InvokeEndpoint."""
    redeploys = [t for t in measured["tasks"] if t["kind"] == "redeploy" and "states_entered" in t]
    memory_mb = measured.get("memory_mb", {}).get(GUARD_FUNCTION)
    math_ms = measured.get("guard_math_ms")
    if not redeploys or memory_mb is None or math_ms is None:
        return None
    runs = [[i for i in t["invocations"] if i["function"] == GUARD_FUNCTION] for t in redeploys]
    invokes = statistics.median(
        sum(i.get("calls", {}).get(GUARD_INVOKE, 0) - SMOKE_TEST_INVOKES for i in r) for r in runs
    )
    others = 0
    assumed_ms = math_ms + ASSUMED_INVOKE_MS * invokes + ASSUMED_CALL_MS * others
    counts = {
        "state_transitions": 0,
        "lambda_invocations": 0,
        "invoke_endpoint_calls": invokes,
        "other_aws_calls": others,
        "lambda_ms_measured_with_emulated_model": statistics.median(sum(i["ms"] for i in r) for r in runs),
        "figures_math_ms": math_ms,
        "lambda_ms_assumed": assumed_ms,
        "lambda_gb_seconds_assumed": math.ceil(assumed_ms) / 1000 * memory_mb / 1024,
    }
    p = PRICES_US_EAST_1
    per_1000 = {
        "step_functions": counts["state_transitions"] * p["sfn_standard_per_1000_transitions"],
        "lambda_requests": counts["lambda_invocations"] * 1000 * p["lambda_per_1m_requests"] / 1e6,
        "lambda_duration_assumed": counts["lambda_gb_seconds_assumed"] * 1000 * p["lambda_arm64_per_gb_second"],
    }
    per_1000["total_assumed"] = sum(per_1000.values())
    redeploy = statistics.median(dollars(t["totals"])["usd_per_1000"]["total_assumed"] for t in redeploys)
    return {
        "counts": counts,
        "usd_per_1000": per_1000,
        "share_of_redeploy": per_1000["total_assumed"] / redeploy if redeploy else None,
        "memory_mb": memory_mb,
        "assumed_invoke_ms": ASSUMED_INVOKE_MS,
        "probe_texts": measured.get("probe_texts"),
    }


def _old_poll_loop(formula: Mapping[str, Mapping[str, float]], polls: int) -> dict[str, float]:
    """The same rollout with the replaced poll loop: `polls` rounds of Wait, CheckGreen, Choice, no
    event Lambda (its DescribeEndpoint-only round priced like a fallback round's Lambda)."""
    counts = evaluate(formula, 0)
    counts["state_transitions"] += OLD_POLL_ROUND["state_transitions"] * polls
    counts["lambda_invocations"] += OLD_POLL_ROUND["lambda_invocations"] * polls
    for metric in ("lambda_gb_seconds_measured", "lambda_gb_seconds_assumed"):
        counts[metric] += formula[metric]["per_round"] * polls
    return counts


def evaluate(formula: Mapping[str, Mapping[str, float]], rounds: int) -> dict[str, float]:
    return {metric: terms["fixed"] + terms["per_round"] * rounds for metric, terms in formula.items()}


def dollars(totals: Mapping[str, float]) -> dict[str, Any]:
    """Counts of one task and what 1,000 such tasks cost, by service."""
    p = PRICES_US_EAST_1
    per_1000 = {
        "step_functions": totals["state_transitions"] * p["sfn_standard_per_1000_transitions"],
        "lambda_requests": totals["lambda_invocations"] * 1000 * p["lambda_per_1m_requests"] / 1e6,
        "lambda_duration_measured": totals["lambda_gb_seconds_measured"] * 1000 * p["lambda_arm64_per_gb_second"],
        "lambda_duration_assumed": totals["lambda_gb_seconds_assumed"] * 1000 * p["lambda_arm64_per_gb_second"],
        "dynamodb": 1000
        * (
            totals["dynamodb_write_units"] * p["dynamodb_on_demand_per_1m_write_units"]
            + totals["dynamodb_read_units"] * p["dynamodb_on_demand_per_1m_read_units"]
        )
        / 1e6,
    }
    per_1000["total_assumed"] = (
        per_1000["step_functions"]
        + per_1000["lambda_requests"]
        + per_1000["lambda_duration_assumed"]
        + per_1000["dynamodb"]
    )
    return {"counts": dict(totals), "usd_per_1000": per_1000}


# ---------------------------------------------------------------- child


@dataclass
class _Invocation:
    function: str
    memory_mb: int
    ms: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)


class _Meter:
    """Counts the service's AWS calls and Lambda invocations, and prices DynamoDB requests."""

    def __init__(self, lookup_size: Callable[[str, Mapping[str, Any]], int | None], tasks_table: str) -> None:
        self._lookup_size = lookup_size
        self._tasks_table = tasks_table
        self._local = threading.local()
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: Counter[str] = Counter()
            self.invocations: list[_Invocation] = []
            self.write_units = 0.0
            self.read_units = 0.0
            self.tasks_table_writes = 0
            self.metrics_requested = 0  # GetMetricData is priced by the metric requested, not by the call
            self._deferred: list[tuple[str, dict[str, Any], bool]] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send", self._sent)
        client.meta.events.register("provide-client-params.dynamodb", self._params)
        client.meta.events.register("after-call.dynamodb", self._dynamodb_done)
        client.meta.events.register("provide-client-params.cloudwatch.GetMetricData", self._metric_data)

    def wrap(self, handler: Callable[..., Any], function: str, memory_mb: int) -> Callable[..., Any]:
        @functools.wraps(handler)
        def timed(event: Any, context: Any) -> Any:
            invocation = _Invocation(function, memory_mb)
            self._local.current = invocation
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                invocation.ms = (time.perf_counter() - started) * 1000
                self._local.current = None
                with self._lock:
                    self.invocations.append(invocation)

        return timed

    def _sent(self, event_name: str, **_: Any) -> None:
        operation = event_name.split(".", 1)[1]
        with self._lock:
            self.calls[operation] += 1
        current = getattr(self._local, "current", None)
        if current is not None:
            current.calls[operation] += 1

    def _metric_data(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.metrics_requested += sum(1 for q in params.get("MetricDataQueries", []) if "MetricStat" in q)

    def _params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = json.loads(json.dumps(params, default=str))

    def _dynamodb_done(self, parsed: Mapping[str, Any], model: Any, context: Mapping[str, Any], **_: Any) -> None:
        params = context.get("bench_params", {})
        operation = model.name
        with self._lock:
            if operation == "TransactWriteItems":
                for element in params.get("TransactItems", []):
                    kind, request = next(iter(element.items()))
                    self._write(kind, request, transactional=True)
            elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
                self._write(operation.removesuffix("Item").capitalize(), params, parsed=parsed)
            elif operation == "GetItem":
                size = item_size(parsed.get("Item", {}))
                self.read_units += read_units(size, consistent=bool(params.get("ConsistentRead")))
            elif operation == "Query":
                size = sum(item_size(item) for item in parsed.get("Items", []))
                self.read_units += read_units(size, consistent=bool(params.get("ConsistentRead")))
            elif operation == "TransactGetItems":
                for response in parsed.get("Responses", []):
                    self.read_units += read_units(
                        item_size(response.get("Item", {})), consistent=True, transactional=True
                    )

    def _write(
        self,
        kind: str,
        request: Mapping[str, Any],
        *,
        transactional: bool = False,
        parsed: Mapping[str, Any] | None = None,
    ) -> None:
        parsed = parsed or {}
        table = request.get("TableName", "")
        if table == self._tasks_table and kind != "ConditionCheck":  # each a stream record
            self.tasks_table_writes += 1
        if kind == "Put":
            self._price_write(table, item_size(request["Item"]), transactional)
        elif kind == "Update" and parsed.get("Attributes"):
            self._price_write(table, item_size(parsed["Attributes"]), transactional)
        elif kind in ("Update", "Delete"):
            # Priced at the item's size once the task has ended (an upper bound for earlier, smaller writes).
            self._deferred.append((table, dict(request.get("Key", {})), transactional))
        else:  # ConditionCheck: priced as a 1 KB transactional write (an assumption)
            self._price_write(table, 1, transactional, index=False)

    def _price_write(self, table: str, size: int, transactional: bool, *, index: bool = True) -> None:
        self.write_units += write_units(size, transactional=transactional)
        if index and table == self._tasks_table:  # the ByModelKind index (projection ALL) is written too
            self.write_units += write_units(size)

    def settle(self) -> None:
        """Price the writes whose size needs the stored item (read with a client of the bench's own)."""
        for table, key, transactional in self._deferred:
            self._price_write(table, self._lookup_size(table, key) or 1, transactional)
        self._deferred = []


def _register_model(aws: Any, name: str) -> None:
    """Green stays Creating until `_settle_green` ends its creation (with the event SageMaker sends)."""
    from local_stack.sagemaker import register_model  # noqa: PLC0415 - the child imports local_stack late

    register_model(aws.client, name, role_name="bench-sagemaker", endpoint_status="Creating")


def _settle_green(aws: Any, execution_arn: str, green: str, rounds: int, timeout: float = 120.0) -> float:
    """Let `rounds` green waits time out, then turn green InService (SageMaker's event follows); returns when."""
    from moto.core import DEFAULT_ACCOUNT_ID  # noqa: PLC0415
    from moto.sagemaker.models import sagemaker_backends  # noqa: PLC0415

    from local_stack.sagemaker import settle_endpoint  # noqa: PLC0415

    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while _green_waits(sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]) <= rounds:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{execution_arn} never waited for green {rounds + 1} times")
        time.sleep(0.02)
    settle_endpoint(sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION], green)
    return time.time()


def _green_waits(events: Sequence[Mapping[str, Any]]) -> int:
    """AwaitGreen's tries: the first, and one per wait that timed out (its States.Timeout retry). The
    bake's wait (AwaitBake) is a task token wait too, and not one of them."""
    waits, state = 0, None
    for e in events:
        if e["type"].endswith("StateEntered"):
            state = e["stateEnteredEventDetails"]["name"]
        elif e["type"] == "TaskScheduled" and state == "AwaitGreen":
            waits += 1
    return waits


def _transitions(events: Sequence[Mapping[str, Any]]) -> int:
    """Billed state transitions: every state entered, and every retry (a step scheduled again in it)."""
    transitions = scheduled = 0
    for event in events:
        if event["type"].endswith("StateEntered"):
            transitions += 1
            scheduled = 0
        elif event["type"] in ("LambdaFunctionScheduled", "TaskScheduled"):
            scheduled += 1
            transitions += scheduled > 1
    return transitions


def child(poll_rounds: Sequence[int]) -> dict[str, Any]:
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    sys.path[:0] = [str(FUNCTIONS_DIR.parent), str(FUNCTIONS_DIR), str(LAYER_DIR)]
    from bench.common import LambdaContext, load_event  # noqa: PLC0415
    from inference_deploy import dependencies  # noqa: PLC0415 - the child's imports; the parent stays stdlib-only
    from inference_deploy.adapters import aws as service_clients  # noqa: PLC0415
    from inference_deploy.logic.embedding_guard import default_probe_texts  # noqa: PLC0415
    from inference_deploy.models.settings import clear_settings_cache  # noqa: PLC0415
    from inference_deploy.naming import green_endpoint  # noqa: PLC0415
    from local_stack.emulator import EmulatedAws  # noqa: PLC0415
    from local_stack.executions import wait_for_execution  # noqa: PLC0415
    from local_stack.run_config import SAMPLE_ADMIN_PATTERN, create_sample_caller  # noqa: PLC0415
    from local_stack.template import load_template  # noqa: PLC0415

    parameters = {
        "GreenPollSeconds": "0",
        "DrainSeconds": "0",
        "GreenTimeoutSeconds": "120",
        "RemovalTimeoutSeconds": "120",
        "AdminPrincipalArnPatterns": SAMPLE_ADMIN_PATTERN,  # the sample events' caller may deploy any model
        # No bake unless the request asks (redeploy_baked): its cost does not grow with its length.
        "BakeSeconds": "0",
        "BakeCheckSeconds": "0",
    }
    tasks: list[dict[str, Any]] = []
    with EmulatedAws(TEMPLATE, parameters=parameters) as aws:
        create_sample_caller(aws.client("iam"), aws.stack.account_id)
        dependencies.reset()
        stack = aws.stack
        lookup = aws.client("dynamodb")

        def size_of(table: str, key: Mapping[str, Any]) -> int | None:
            item = lookup.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
            return item_size(item) if item else None

        meter = _Meter(size_of, stack.tables["TasksTable"].name)
        for factory in (
            service_clients.dynamodb,
            service_clients.sagemaker,
            service_clients.sagemaker_runtime,
            service_clients.stepfunctions,
            service_clients.cloudwatch,
            service_clients.events,
        ):
            meter.attach(factory())
        handlers: dict[str, Callable[..., Any]] = {}
        for function in stack.functions.values():
            module = importlib.import_module(function.module_name)
            wrapped = meter.wrap(getattr(module, function.handler_attribute), function.logical_id, function.memory_size)
            setattr(module, function.handler_attribute, wrapped)
            handlers[function.logical_id] = wrapped
        sfn = aws.client("stepfunctions")
        publisher = stack.template.resources["PublishTaskEventsFunction"].properties
        publisher_traced = publisher.get("Tracing", "Active") == "Active"  # Globals trace every function

        def run_task(
            kind: str, route: str, model: str, rounds: int, bake_seconds: int | None = None, **fields: Any
        ) -> None:
            # A long wait when no round should time out; a short one to make `rounds` of them.
            os.environ["GREEN_EVENT_WAIT_SECONDS"] = "120" if rounds == 0 else "1"
            clear_settings_cache()
            meter.reset()
            started = time.perf_counter()
            event = load_event(route)
            request: dict[str, Any] = {"embedding_model_id": model}
            if bake_seconds is not None:
                request["bake_seconds"] = bake_seconds
            request.update(fields)
            event["body"] = json.dumps(request)
            answer = handlers["CreateTaskFunction"](event, LambdaContext())
            if answer["statusCode"] != 202:
                raise RuntimeError(f"{kind} of {model} answered {answer['statusCode']}: {answer['body']}")
            body = json.loads(answer["body"])
            arn = body["execution_arn"]
            green = green_endpoint(model, body["id"]).endpoint_name
            in_service_at = _settle_green(aws, arn, green, rounds) if route == "deploy" else None
            description = wait_for_execution(sfn, arn, timeout=120)
            wall = time.perf_counter() - started
            if description["status"] != "SUCCEEDED":
                raise RuntimeError(f"{kind} of {model} ended {description['status']}")
            meter.settle()
            events = [
                e
                for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
                for e in page["events"]
            ]
            entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
            switch_at = next(
                (
                    e["timestamp"].timestamp()
                    for e in events
                    if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "SwitchTraffic"
                ),
                None,
            )
            green_waits = _green_waits(events)
            invocations = meter.invocations
            by_service: dict[str, int] = defaultdict(int)
            for operation, count in meter.calls.items():
                by_service[operation.split(".")[0]] += count
            gb = [
                (
                    math.ceil(i.ms) / 1000 * i.memory_mb / 1024,
                    (math.ceil(i.ms) + ASSUMED_CALL_MS * sum(i.calls.values())) / 1000 * i.memory_mb / 1024,
                )
                for i in invocations
            ]
            poll_function = "CheckGreenFunction" if route == "deploy" else "SweepModelEndpointsFunction"
            event_functions = {"ResumeGreenWaitFunction", "ResumeBakeFunction"}
            steps = [i for i in invocations if i.function not in event_functions | {"CreateTaskFunction"}]
            cloudwatch_calls = {  # GetMetricData: priced by metrics_requested
                op: n for op, n in meter.calls.items() if op.startswith("cloudwatch.") and op != GET_METRIC_DATA
            }
            polls = [g for g, i in zip(gb, invocations, strict=True) if i.function == poll_function]
            tasks.append(
                {
                    "kind": kind,
                    "model": model,
                    "poll_rounds": green_waits - 1 if route == "deploy" else entered.count("CheckEndpointsGone"),
                    "in_service_to_switch_s": (
                        switch_at - in_service_at if switch_at is not None and in_service_at is not None else None
                    ),
                    "requested_rounds": rounds,
                    "wall_s": wall,
                    "states_entered": entered,
                    "lambda_invocations_in_history": sum(1 for e in events if e["type"] == "LambdaFunctionScheduled"),
                    "aws_calls": dict(sorted(meter.calls.items())),
                    "invocations": [
                        {
                            "function": i.function,
                            "ms": round(i.ms, 2),
                            "aws_calls": sum(i.calls.values()),
                            **({"calls": dict(i.calls)} if i.function == GUARD_FUNCTION else {}),
                        }
                        for i in invocations
                    ],
                    "all_in": {
                        "invocation_memory_mb": [i.memory_mb for i in invocations],
                        "task_events": 3 + len(steps),
                        "tasks_table_writes": meter.tasks_table_writes,
                        "publisher_invocations": 1 + len(steps),
                        "event_invocations": sum(1 for i in invocations if i.function in event_functions),
                        "cloudwatch_calls": sum(cloudwatch_calls.values()),
                        "cloudwatch_metrics_requested": meter.metrics_requested,
                        "publisher_traced": publisher_traced,
                        # a 10-minute bake: each of its alarms lives less than an hour, billed one alarm-hour
                        "bake_alarm_hours": {
                            "metric": cloudwatch_calls.get("cloudwatch.PutMetricAlarm", 0),
                            "composite": cloudwatch_calls.get("cloudwatch.PutCompositeAlarm", 0),
                        },
                    },
                    "poll_round_gb_seconds": {
                        "lambda_gb_seconds_measured": statistics.median(m for m, _ in polls) if polls else 0.0,
                        "lambda_gb_seconds_assumed": statistics.median(a for _, a in polls) if polls else 0.0,
                    },
                    "totals": {
                        "state_transitions": _transitions(events),
                        "lambda_invocations": len(invocations),
                        "lambda_gb_seconds_measured": sum(m for m, _ in gb),
                        "lambda_gb_seconds_assumed": sum(a for _, a in gb),
                        "sagemaker_calls": by_service["sagemaker"] + by_service["sagemaker-runtime"],
                        "dynamodb_calls": by_service["dynamodb"],
                        "stepfunctions_calls": by_service["sfn"],
                        "dynamodb_write_units": meter.write_units,
                        "dynamodb_read_units": meter.read_units,
                    },
                }
            )

        # Untimed: imports every step handler and warms the interpreter, so no measured task pays for it.
        _register_model(aws, "bench-rollout-warmup")
        run_task("first_deploy", "deploy", "bench-rollout-warmup", 0)
        run_task("delete", "delete", "bench-rollout-warmup", 0)
        tasks.clear()
        for rounds in poll_rounds:
            model = f"bench-rollout-{rounds}"
            _register_model(aws, model)
            run_task("first_deploy", "deploy", model, rounds)
            _register_model(aws, model)  # a new model version, same behaviour
            run_task("redeploy", "deploy", model, rounds)
        model = f"bench-rollout-{poll_rounds[0]}"
        _register_model(aws, model)
        run_task("redeploy_baked", "deploy", model, poll_rounds[0], bake_seconds=BAKED_SECONDS)
        _register_model(aws, model)
        watched = "redeploy_baked_green_alarms"
        run_task(watched, "deploy", model, poll_rounds[0], bake_seconds=BAKED_SECONDS, green_alarms=True)
        run_task("delete", "delete", model, 0)
        functions = {f.logical_id: f.memory_size for f in stack.functions.values()}
    dependencies.reset()
    wait_default = load_template(TEMPLATE).parameters["GreenEventWaitSeconds"].default
    return {
        "tasks": tasks,
        "memory_mb": functions,
        "parameters": parameters,
        "green_event_wait_seconds": int(wait_default or 0),
        "probe_texts": len(default_probe_texts()),
        "guard_math_ms": _guard_math_ms(default_probe_texts()),
    }


def _guard_math_ms(texts: Sequence[str], runs: int = 5) -> float:
    """The guard's figures for the default probes (two emulated spaces of 384 dimensions), median ms."""
    from inference_deploy.logic.compatibility import compare  # noqa: PLC0415
    from local_stack.embeddings import embed  # noqa: PLC0415

    blue = [embed(text, 384) for text in texts]
    green = [embed(text, 384, drift=0.3) for text in texts]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        compare(blue, green)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rollout")
    parser.add_argument("--poll-rounds", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    write_json(args.out, child([int(r) for r in args.poll_rounds.split(",")]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
