"""What a finished execution adds to its task's metadata: names, dimensions and a timestamp per step."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from inference_deploy.logic.compatibility import compatibility_metadata
from inference_deploy.logic.failures import failure_to_error
from inference_deploy.models.common import utc_now
from inference_deploy.models.task import DeleteMetadata, DeployMetadata, TaskKind
from inference_deploy.models.workflow import (
    BakeCheck,
    CompatibilityCheck,
    DeploymentPlan,
    DiscardedGreen,
    GreenStatus,
    PreparedGreen,
    ProvisionedGreen,
    ResolvedModel,
    RetiredBlue,
    RollBackReason,
    RolledBackTraffic,
    ScalingApplied,
    SmokeTestResult,
    StepFailure,
    SweepResult,
    SwitchedTraffic,
    Timing,
    UnroutedModel,
)
from inference_deploy.observability import logger


class ExecutionState(BaseModel):
    """The state the workflows accumulate, one key per step result (see statemachine/*.asl.json)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    timing: Timing | None = None
    deployment: DeploymentPlan | None = None
    resolved: ResolvedModel | None = None  # an execution started before ProvisionGreen resolved the model
    provisioned: ProvisionedGreen | None = None
    green_status: GreenStatus | None = None
    scaling: ScalingApplied | None = None  # an execution started before PrepareGreen
    smoke_test: SmokeTestResult | None = None  # and these two
    compatibility: CompatibilityCheck | None = None
    prepared: PreparedGreen | None = None
    switched: SwitchedTraffic | None = None
    retired: RetiredBlue | None = None
    cleanup: DiscardedGreen | None = None
    failure: StepFailure | None = None
    removal_resumed: bool | None = None
    retire_failure: StepFailure | None = None
    cleanup_failure: StepFailure | None = None
    restore_failure: StepFailure | None = None
    unrouted: UnroutedModel | None = None
    removal: SweepResult | None = None
    removal_check: SweepResult | None = None
    bake_check: BakeCheck | None = None
    rollback_why: RollBackReason | None = None
    rollback: RolledBackTraffic | None = None
    finish_deferred: StepFailure | None = None  # RetireBlue's TaskNotFinished: what it did is in its message


def _deploy(state: ExecutionState, out: DeployMetadata, steps: dict[str, datetime]) -> None:
    resolved = state.resolved or (state.provisioned.resolved if state.provisioned is not None else None)
    if resolved is not None:
        steps["resolve_model"] = resolved.at
        blue = resolved.blue
        out.previous_endpoint_name = blue.endpoint_name if blue else None
        out.previous_endpoint_config_name = blue.endpoint_config_name if blue else None
        out.previous_embedding_dimension = blue.embedding_dimension if blue else None
    if state.provisioned is not None:
        steps["provision_green"] = state.provisioned.at
    if state.green_status is not None and state.green_status.in_service:
        steps["green_in_service"] = state.green_status.at
    _capacity(state, out, steps)
    smoke_test = state.prepared.smoke_test if state.prepared is not None else state.smoke_test
    if smoke_test is not None:
        steps["smoke_test"] = smoke_test.at
        out.embedding_dimension = smoke_test.embedding_dimension
        out.smoke_test_latency_ms = smoke_test.latency_ms
    compatibility = state.prepared.compatibility if state.prepared is not None else state.compatibility
    if compatibility is not None:
        _compatibility(compatibility, out, steps)
    if state.switched is not None:
        steps["switch_traffic"] = state.switched.at
    _bake(state, out, steps)
    if state.retired is not None:
        steps["retire_blue"] = state.retired.at
    if state.retire_failure is not None:
        # Green serves and the task succeeded, but blue is still up: the next delete sweeps it.
        out.retire_blue_error = failure_to_error(state.retire_failure)
    if state.cleanup is not None and state.cleanup.serving:
        # A step reported an error but the switch had landed: green serves, blue was retired after all.
        steps["switch_confirmed"] = state.cleanup.at
        out.green_discarded = False
        if state.failure is not None:
            out.switch_reported_error = failure_to_error(state.failure)
    elif state.cleanup is not None:
        steps["discard_green"] = state.cleanup.at
        out.green_discarded = True
    if state.cleanup_failure is not None:
        # Green may still exist: say so, so an operator (or the next delete's sweep) removes it.
        out.green_discarded = False
        out.discard_green_error = failure_to_error(state.cleanup_failure)


def _compatibility(check: CompatibilityCheck, out: DeployMetadata, steps: dict[str, datetime]) -> None:
    steps["embedding_compatibility"] = check.at
    compatibility_metadata(check, out)


def _capacity(state: ExecutionState, out: DeployMetadata, steps: dict[str, datetime]) -> None:
    """What green was given: its instances (ProvisionGreen), then the scaling copied onto it (PrepareGreen)."""
    capacity = state.provisioned.capacity if state.provisioned is not None else None
    scaling = state.prepared.scaling if state.prepared is not None else state.scaling
    if scaling is not None:
        steps["apply_scaling"] = scaling.at
        capacity = scaling.capacity or capacity
    if capacity is not None:
        out.capacity = capacity.model_dump(mode="json")


def _bake(state: ExecutionState, out: DeployMetadata, steps: dict[str, datetime]) -> None:
    if state.switched is not None and state.switched.bake_ends_at is not None:
        out.bake_ends_at = state.switched.bake_ends_at
    if state.switched is not None and state.switched.bake_alarms is not None:
        out.bake_alarms = state.switched.bake_alarms
    if state.retired is not None and state.retired.bake_ended_at is not None:
        steps["bake_passed"] = state.retired.bake_ended_at
    if state.rollback_why is not None and state.rollback_why.tripped is not None:
        steps["alarm_tripped"] = state.bake_check.at if state.bake_check else utc_now()
        out.tripped_alarm = state.rollback_why.tripped.model_dump()
    if state.rollback_why is not None:
        out.rollback_reason = state.rollback_why.reason
    if state.rollback is not None:  # a cancel during the bake, undone
        steps["rolled_back"] = state.rollback.at
        out.rolled_back_to = state.rollback.rolled_back_to
        out.green_discarded = state.rollback.green_discarded


def _delete(state: ExecutionState, out: DeleteMetadata, steps: dict[str, datetime]) -> None:
    if state.unrouted is not None:
        steps["unroute"] = state.unrouted.at
        removed = state.unrouted.removed
        out.removed_endpoint_name = removed.endpoint_name if removed else None
    if state.removal is not None:
        steps["delete_endpoints"] = state.removal.at
        out.deleted_resources = state.removal.deleted
    if state.removal_resumed and state.failure is not None:
        # A removal step reported an error after the endpoint was already going: the removal went on.
        out.removal_reported_error = failure_to_error(state.failure)
    if state.restore_failure is not None:
        out.restore_routing_error = failure_to_error(state.restore_failure)
    if state.removal_check is not None and state.removal_check.done:
        steps["endpoints_gone"] = state.removal_check.at


def deferred_retire(failure: StepFailure) -> RetiredBlue | None:
    """What RetireBlue did before it could not write the task's ending (TaskNotFinished's message is the
    JSON of it, see logic/lifecycle.py finish_retired)."""
    try:
        cause = json.loads(failure.Cause or "")
        return RetiredBlue.model_validate_json(cause["errorMessage"])
    except (ValueError, KeyError, TypeError):
        return None


def outcome_metadata(raw_state: dict[str, Any], kind: TaskKind) -> DeployMetadata | DeleteMetadata:
    """Metadata from whatever steps ran; a state this code cannot read loses detail, never the status."""
    out = DeployMetadata() if kind is TaskKind.DEPLOY else DeleteMetadata()
    try:
        state = ExecutionState.model_validate(raw_state)
        if state.retired is None and state.finish_deferred is not None:
            state = state.model_copy(update={"retired": deferred_retire(state.finish_deferred)})
    except ValidationError:
        logger.exception("execution state not understood; finishing the task without step details")
        return out
    steps: dict[str, datetime] = {}
    if isinstance(out, DeployMetadata):
        _deploy(state, out, steps)
    else:
        _delete(state, out, steps)
    if steps:
        out.steps = steps
    return out
