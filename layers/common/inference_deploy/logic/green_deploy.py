"""The steps of a green deployment on SageMaker real-time endpoints.

Blue (the endpoint in the serving record) is never touched until green is in service, answers with
sane embeddings and has been switched to; any failure before that deletes green and leaves blue serving.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.alarms import Alarms, watched_alarm_names
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import (
    AlarmDuringBake,
    BakeCheckFailed,
    CancelNotHonoured,
    CloudWatchUnavailable,
    DimensionChanged,
    EndpointBusy,
    GreenFailed,
    GreenMetricsBreached,
    GreenTimeout,
    ModelGoneBesideGreen,
    ModelNotFound,
    RolledBack,
    ServingRecordChanged,
    TaskCancelled,
)
from inference_deploy.logic.capacity import green_capacity
from inference_deploy.logic.embeddings import parse_embeddings
from inference_deploy.logic.endpoints import delete_endpoint
from inference_deploy.logic.failures import failure_to_error
from inference_deploy.models.common import format_timestamp, utc_now
from inference_deploy.models.plan import BakePlan
from inference_deploy.models.serving import EndpointRef, ServingRecord
from inference_deploy.models.workflow import (
    CheckGreenEvent,
    DiscardedGreen,
    DiscardGreenEvent,
    GreenStatus,
    ProvisionedGreen,
    ProvisionGreenEvent,
    ResolvedModel,
    RetireBlueEvent,
    RetiredBlue,
    RollBackEvent,
    RolledBackTraffic,
    SmokeTestEvent,
    SmokeTestResult,
    SwitchedTraffic,
    SwitchTrafficEvent,
    plan_bakes,
)
from inference_deploy.naming import MANAGED_BY, MANAGED_BY_TAG, resource_tags
from inference_deploy.observability import logger, metrics

PROBE_TEXTS = (
    "green deployment probe",
    "The quick brown fox jumps over the lazy dog.",
    "Embeddings map text to vectors; 0123456789 ÄÖÜ ß 日本語",
)

_STILL_CREATING = {"Creating", "Updating", "SystemUpdating"}
# How long SageMaker may keep a new endpoint Creating before it ends InService or Failed.
CREATING_LIMIT_SECONDS = 3600
# The status check_green reports for a green DescribeEndpoint does not show yet (eventual consistency).
NOT_VISIBLE_YET = "NotVisibleYet"


def resolve_model(embedding_model_id: str, sagemaker: SageMaker, models: ModelStore) -> ResolvedModel:
    """The SageMaker Model must exist; the current serving record (blue) is what the switch will expect."""
    model_arn = sagemaker.describe_model(embedding_model_id)
    return ResolvedModel(model_arn=model_arn, blue=models.serving(embedding_model_id), at=utc_now())


def begin_and_provision_green(
    event: ProvisionGreenEvent, sagemaker: SageMaker, store: TaskStore, models: ModelStore
) -> ProvisionedGreen:
    """The rollout's first step: the task goes in_progress (a repeat is a no-op), the model is resolved, then
    green is created. An execution started before the fold resolved blue in its own step and passes it."""
    if "blue" in event.model_fields_set:
        return provision_green(event, event.blue, sagemaker, store)
    store.mark_in_progress(event.task_id)
    try:
        resolved = resolve_model(event.embedding_model_id, sagemaker, models)
    except ModelNotFound as exc:
        # ModelNotFound fails the task at once: only while a retry of this step finds no green of its own.
        if sagemaker.endpoint_config_exists(event.deployment.green.endpoint_config_name):
            raise ModelGoneBesideGreen(str(exc)) from exc
        raise
    try:
        provisioned = provision_green(event, resolved.blue, sagemaker, store)
    except ModelNotFound as exc:
        raise ModelGoneBesideGreen(str(exc)) from exc
    return provisioned.model_copy(update={"resolved": resolved})


def provision_green(
    event: ProvisionGreenEvent, blue: ServingRecord | None, sagemaker: SageMaker, store: TaskStore
) -> ProvisionedGreen:
    """Create green, between two looks at the cancel mark: a conditional write before (a cancel already
    recorded creates nothing) and a consistent read after (a cancel that landed during the create gets
    TaskCancelled, and the workflow discards the green just made, waiting while SageMaker refuses)."""
    plan = event.deployment
    store.mark_creating_green(event.task_id)
    capacity = green_capacity(plan, blue, sagemaker)
    sagemaker.create_endpoint(
        plan.green,
        model_name=event.embedding_model_id,
        instance_type=plan.instance_type,
        instance_count=capacity.instance_count,
        tags=resource_tags(event.embedding_model_id, event.task_id, plan.deployment_target),
    )
    now = utc_now()
    logger.info(
        "green requested",
        extra={
            "endpoint_name": plan.green.endpoint_name,
            "instances": capacity.instance_count,
            "from": capacity.source,
        },
    )
    if store.cancel_requested(event.task_id):
        raise TaskCancelled(f"task {event.task_id} was cancelled while green was being created")
    return ProvisionedGreen(
        deadline=now + timedelta(seconds=event.timing.green_timeout_seconds), at=now, capacity=capacity
    )


def check_green(event: CheckGreenEvent, sagemaker: SageMaker) -> GreenStatus:
    state = sagemaker.endpoint_state(event.green.endpoint_name)
    now = utc_now()
    if state is None:
        # SageMaker's reads are eventually consistent: a new endpoint may not be visible yet.
        if now < event.deadline:
            return GreenStatus(status=NOT_VISIBLE_YET, in_service=False, at=now)
        raise GreenFailed(f"green endpoint {event.green.endpoint_name} not found by its deadline")
    if state.status == "InService":
        return GreenStatus(status=state.status, in_service=True, at=now)
    if state.status in _STILL_CREATING:
        if now >= event.deadline:
            raise GreenTimeout(
                f"green endpoint {event.green.endpoint_name} still {state.status} "
                f"at its deadline {event.deadline:%Y-%m-%dT%H:%M:%SZ}"
            )
        return GreenStatus(status=state.status, in_service=False, at=now)
    raise GreenFailed(
        f"green endpoint {event.green.endpoint_name} is {state.status}: {state.failure_reason or 'no reason given'}"
    )


def smoke_test_green(event: SmokeTestEvent, sagemaker: SageMaker) -> SmokeTestResult:
    """Probe green with a batch of texts: one usable vector per text, one dimension for all, equal to
    blue's unless the request allowed a change."""
    body = json.dumps({"inputs": list(PROBE_TEXTS)}).encode()
    invocation = sagemaker.invoke(event.green.endpoint_name, body)
    dimension = len(parse_embeddings(invocation.body, expected=len(PROBE_TEXTS))[0])
    if event.blue is not None and dimension != event.blue.embedding_dimension and not event.allow_dimension_change:
        raise DimensionChanged(
            f"green answers {dimension}-dimensional vectors but blue answers {event.blue.embedding_dimension}; "
            'deploy with "allow_dimension_change": true if the change is intended'
        )
    metrics.add_metric(name="GreenSmokeTestLatency", unit=MetricUnit.Milliseconds, value=invocation.latency_ms)
    return SmokeTestResult(
        embedding_dimension=dimension,
        latency_ms=round(invocation.latency_ms, 3),
        probes=len(PROBE_TEXTS),
        at=utc_now(),
    )


def switch_traffic(event: SwitchTrafficEvent, store: TaskStore, alarms: Alarms) -> SwitchedTraffic:
    """When the plan bakes, its alarms first (they exist before traffic moves). Then one conditional
    write: the record moves to green only if it still points at blue and the task was not cancelled.
    With a bake, blue stays in the record as `previous` until the bake ends."""
    bake = event.bake if plan_bakes(event.bake, event.blue) else None
    watched = _create_bake_alarms(event, alarms) if bake is not None else None
    now = utc_now()
    ends_at = now + timedelta(seconds=bake.seconds) if bake is not None else None
    green = ServingRecord(
        embedding_model_id=event.embedding_model_id,
        endpoint_name=event.green.endpoint_name,
        endpoint_config_name=event.green.endpoint_config_name,
        task_id=event.task_id,
        embedding_dimension=event.embedding_dimension,
        since=now,
        capacity=event.capacity,
        previous=event.blue.served if bake is not None and event.blue is not None else None,
        bake_ends_at=ends_at,
    )
    store.switch_serving(event.task_id, green, event.blue, format_timestamp(ends_at) if ends_at else None)
    logger.info("traffic switched", extra={"endpoint_name": green.endpoint_name, "bake_ends_at": ends_at})
    return SwitchedTraffic(since=now, at=now, bake_ends_at=ends_at, bake_alarms=watched)


# ---------------------------------------------------------------- the bake


def _create_bake_alarms(event: SwitchTrafficEvent, alarms: Alarms) -> list[str]:
    """The bake's alarms, tagged like green, when it watches any: on green's own metrics when the request
    asks, and a composite alarm over the request's alarms (and those) when it names any; what the bake
    watches. Neither: no alarm at all, green's metrics are read when the bake ends."""
    bake = event.bake
    assert bake is not None
    if bake.alarms or bake.green_alarms:
        alarms.create_for_bake(
            event.task_id,
            event.green.endpoint_name,
            error_threshold=bake.error_threshold,
            latency_threshold_ms=bake.latency_threshold_ms,
            tags={"embedding_model_id": event.embedding_model_id, "task_id": event.task_id, MANAGED_BY_TAG: MANAGED_BY},
            caller_alarms=bake.alarms,
            green_alarms=bake.green_alarms,
        )
    return watched_alarm_names(event.task_id, bake.alarms, bake.green_alarms)


def retire_blue(
    event: RetireBlueEvent, sagemaker: SageMaker, store: TaskStore, models: ModelStore, alarms: Alarms
) -> RetiredBlue:
    """After a bake (its wait timed out: no watched alarm woke it), end it (see _end_bake). Then delete
    blue's endpoint and config; a first deploy that baked has none."""
    ended_at = None
    if event.bake is not None and plan_bakes(event.bake, event.blue):
        ended_at = _end_bake(event, event.bake, store, models, alarms)
    blue = event.blue
    deleted = False
    if blue is not None:
        ref = EndpointRef(endpoint_name=blue.endpoint_name, endpoint_config_name=blue.endpoint_config_name)
        deleted = delete_endpoint(ref, sagemaker).deleted
    return RetiredBlue(deleted=deleted, bake_ended_at=ended_at, at=utc_now())


def _end_bake(
    event: RetireBlueEvent, bake: BakePlan, store: TaskStore, models: ModelStore, alarms: Alarms
) -> datetime | None:
    """Judge green by its own metrics over the bake (GreenMetricsBreached: the workflow rolls back), then
    end the bake: green keeps the traffic and the record forgets blue, unless the task was cancelled
    meanwhile (TaskCancelled: the workflow rolls back; a cancel recorded before the step began wins over
    the verdict: the step honours it, functions/delete_endpoint/app.py).
    A bake that has ended already (a retry of this step after its first run ended it, and maybe the task)
    is not judged nor ended again: None. Green is judged only by a workflow that routes the verdict
    (`state` given: an execution started on the definition before it has no Catch for it)."""
    record = models.serving(event.embedding_model_id)
    if record is not None and record.task_id == event.task_id and record.bake_ends_at is None:
        logger.info("the bake has ended already: a retry of RetireBlue")
        return None
    if event.state is not None and record is not None and record.task_id == event.task_id:
        _judge_green(record, bake, alarms)
    store.end_bake(event.task_id, event.embedding_model_id)
    return utc_now()


def _judge_green(record: ServingRecord, bake: BakePlan, alarms: Alarms) -> None:
    """Green's Invocation5XXErrors and ModelLatency over the whole bake (since the serving record moved to
    green: the record says when, also after a switch whose answer was lost), by the rules of the bake's
    alarms. Whatever stops the reading is CloudWatchUnavailable: an unproven green is not kept."""
    try:
        breach = alarms.green_breach(
            record.endpoint_name,
            record.since,
            utc_now(),
            error_threshold=bake.error_threshold,
            latency_threshold_ms=bake.latency_threshold_ms,
        )
    except CloudWatchUnavailable:
        raise
    except Exception as exc:
        logger.exception("green's metrics could not be judged")
        raise CloudWatchUnavailable(f"judge green's metrics: {type(exc).__name__}") from exc
    if breach is not None:
        logger.warning("green's metrics breached during the bake", extra={"breach": breach})
        raise GreenMetricsBreached(f"green {record.endpoint_name}'s own metrics during the bake: {breach}")


def roll_back(event: RollBackEvent, sagemaker: SageMaker, models: ModelStore) -> RolledBackTraffic:
    """End a bake by going back to blue: an alarm tripped, the task was cancelled, or the alarms could
    not be checked. Idempotent: a retry whose first write landed (its answer lost, or green's delete
    throttled) finds the record on blue and deletes green. Blue must be InService to take traffic
    again; if it is not, green stays (the only endpoint that can serve) and the task fails saying so.
    A cancel ends here (the workflow then marks the task cancelled); the other reasons fail the task
    (RolledBack, or AlarmDuringBake/BakeCheckFailed when green is kept)."""
    why = _why(event)
    model_id, green = event.embedding_model_id, event.green.endpoint_name
    record = models.serving(model_id)
    if record is not None and record.task_id == event.task_id:
        previous = record.previous
        blue = sagemaker.endpoint_state(previous.endpoint_name) if previous is not None else None
        if previous is None or blue is None or blue.status != "InService":
            models.end_bake(model_id, event.task_id)
            where = (
                "a first deploy has no previous endpoint to roll back to"
                if previous is None
                else f"blue {previous.endpoint_name} is {blue.status if blue else 'gone'} and cannot take traffic"
            )
            _keep_green(event, f"{why}; green {green} is left serving: {where}")
        if not models.roll_back(model_id, event.task_id, previous):
            raise ServingRecordChanged(f"{why}, but the serving record changed meanwhile: nothing rolled back")
        rolled_back_to = previous.endpoint_name
    elif record is not None and event.blue is not None and record.endpoint_name == event.blue.endpoint_name:
        rolled_back_to = record.endpoint_name  # this step's earlier attempt rolled back; finish its clean-up
    else:
        raise ServingRecordChanged(f"{why}, but the serving record no longer names green: nothing rolled back")
    delete_endpoint(event.green, sagemaker)
    logger.warning("rolled back", extra={"endpoint_name": rolled_back_to, "reason": event.why.reason})
    if event.why.reason == "cancelled":
        return RolledBackTraffic(rolled_back_to=rolled_back_to, green_discarded=True, at=utc_now())
    raise RolledBack(f"{why}: traffic rolled back to {rolled_back_to}, green {green} discarded")


def _why(event: RollBackEvent) -> str:
    if event.why.tripped is not None:
        trip = event.why.tripped
        return f"alarm {trip.name} went to ALARM during the bake ({trip.reason or 'no reason given'})"
    if event.why.reason == "green_metrics" and event.why.failure is not None:
        return failure_to_error(event.why.failure).message
    if event.why.reason == "cancelled":
        return "the task was cancelled during its bake"
    failure = failure_to_error(event.why.failure) if event.why.failure else None
    return f"the bake could not be checked or ended ({failure.message if failure else 'no reason given'})"


def _keep_green(event: RollBackEvent, message: str) -> NoReturn:
    if event.why.reason in ("alarm", "green_metrics"):
        raise AlarmDuringBake(message)
    if event.why.reason == "cancelled":
        raise CancelNotHonoured(message)
    raise BakeCheckFailed(message)


def discard_green(event: DiscardGreenEvent, sagemaker: SageMaker, models: ModelStore) -> DiscardedGreen:
    """After a failure before the switch: delete green, unless the serving record names it. Then the
    switch did land (its answer was lost, or its Lambda timed out after the write): deleting green would
    take the model's only endpoint away, so the workflow goes on to retire blue instead. While SageMaker
    will not delete green yet (still Creating, say) the answer is "not done" until the deadline, then
    EndpointBusy: green is left to the reconciler, which deletes it once SageMaker allows."""
    record = models.serving(event.embedding_model_id)
    if record is not None and record.endpoint_name == event.green.endpoint_name:
        logger.warning("green serves: the switch landed; keeping it", extra={"endpoint_name": record.endpoint_name})
        return DiscardedGreen(deleted=False, serving=True, at=utc_now())
    try:
        deleted = delete_endpoint(event.green, sagemaker).deleted
    except EndpointBusy:
        state = sagemaker.endpoint_state(event.green.endpoint_name)
        now = datetime.now(UTC)  # to the microsecond, as the state's EnteredTime
        started = event.started_at or now
        # A Creating green ends on its own (InService or Failed; SageMaker may take up to an hour):
        # wait that out too, so a green is deleted as soon as SageMaker allows, not left running.
        limit = event.timeout_seconds + (CREATING_LIMIT_SECONDS if state and state.status == "Creating" else 0)
        if state is None or now >= started + timedelta(seconds=limit):
            raise
        logger.info("green cannot be deleted yet", extra={"endpoint_name": event.green.endpoint_name})
        return DiscardedGreen(deleted=False, done=False, status=state.status, at=utc_now())
    return DiscardedGreen(deleted=deleted, at=utc_now())
