"""Task metadata: typed by the task's kind, shown exactly as stored, written only with known keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from inference_deploy.adapters.task_store import item_change, item_to_task, task_to_item
from inference_deploy.errors import TaskNotCancellable
from inference_deploy.logic.cancel import cancel_task
from inference_deploy.logic.outcome import outcome_metadata
from inference_deploy.models.task import (
    DeleteMetadata,
    DeployMetadata,
    Task,
    TaskKind,
    TaskMetadata,
    TaskStatus,
    metadata_key,
)

DEPLOY_ID = "deploy-01ARZ3NDEKTSV4RRFFQ69G5FAV"
DELETE_ID = "delete-01ARZ3NDEKTSV4RRFFQ69G5FAW"
AT = "2026-01-02T03:04:05Z"


def _task(task_id: str, metadata: dict[str, Any], status: str = "in_progress") -> Task:
    return Task.model_validate(
        {
            "id": task_id,
            "embedding_model_id": "embed",
            "status": status,
            "created_at": AT,
            "updated_at": AT,
            "metadata": metadata,
        }
    )


def test_the_tasks_kind_decides_its_metadata_model_not_the_keys_set():
    assert isinstance(_task(DEPLOY_ID, {}).metadata, DeployMetadata)
    assert isinstance(_task(DELETE_ID, {}).metadata, DeleteMetadata)
    # A delete's key on a deploy task is not a reason to read it as a delete: it stays an unknown key.
    deploy = _task(DEPLOY_ID, {"reason": "x"}).metadata
    assert isinstance(deploy, DeployMetadata)
    assert deploy.model_extra == {"reason": "x"}


def test_stored_metadata_is_answered_exactly_as_stored_unknown_keys_and_nulls_included():
    stored = {
        "deployment_target": "prod",
        "autoscaling_requested": None,
        "previous_endpoint_name": None,
        "bake_seconds": 600,
        "min_mean_cosine": 0.93,
        "bake_ends_at": AT,
        "steps": {"resolve_model": AT, "switch_traffic": AT},
        "step_runs": [
            {"step": "ProvisionGreen", "started_at": AT, "ended_at": AT},
            {"step": "AwaitGreen", "started_at": AT, "ended_at": AT, "runs": 3, "error": "TaskCancelled"},
        ],
        "retire_blue_error": {"code": "sagemaker_unavailable", "message": "throttled"},
        "written_by_a_newer_version": {"nested": [1, 2]},
    }
    assert json.loads(_task(DEPLOY_ID, stored).model_dump_json())["metadata"] == stored
    # Through the item (which drops nulls, adapters/dynamo.py) and back: the same keys and values.
    task = item_to_task(task_to_item(_task(DEPLOY_ID, stored)))
    assert json.loads(task.model_dump_json())["metadata"] == {k: v for k, v in stored.items() if v is not None}
    assert task.metadata.step_runs is not None
    assert task.metadata.step_runs[1].runs == 3


def test_a_writer_naming_an_unknown_key_or_a_wrong_type_fails_before_anything_is_written():
    typo = DeployMetadata.model_validate({"bake_secnds": 600})
    with pytest.raises(ValueError, match="not task metadata keys: bake_secnds"):
        typo.updates()
    metadata = DeployMetadata()
    with pytest.raises(ValidationError):
        metadata.bake_seconds = "ten minutes"  # type: ignore[assignment]


def test_a_writer_writes_only_the_keys_it_set_as_json_values():
    metadata = DeployMetadata(previous_endpoint_name=None)
    metadata.bake_ends_at = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    assert metadata.updates() == {"previous_endpoint_name": None, "bake_ends_at": AT}
    assert TaskMetadata().updates() == {}


def test_a_stream_records_old_image_is_read_for_its_status_and_step_only():
    new = task_to_item(_task(DEPLOY_ID, {"current_step": "SwitchTraffic"}))
    old = {"id": {"S": DEPLOY_ID}, "status": {"S": "in_progress"}, "metadata": {"M": {"current_step": {"S": "X"}}}}
    change = item_change(new, old)
    assert (change.old_status, change.old_step, change.task.metadata.current_step) == (
        "in_progress",
        "X",
        "SwitchTraffic",
    )
    assert (item_change(new, {}).old_status, item_change(new, {}).old_step) == (None, None)


class _FakeStore:
    """The CancelStore the cancel logic depends on, in memory."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.cancellations: list[dict[str, Any]] = []

    def get(self, task_id: str) -> Task:
        assert task_id == self.task.id
        return self.task

    def request_cancel(self, task: Task, cancellation: TaskMetadata) -> bool:
        if task.metadata.cancelled_by is not None:
            return False
        self.cancellations.append(cancellation.updates())
        merged = {**task.model_dump(mode="json")["metadata"], **cancellation.updates()}
        self.task = _task(task.id, merged, status="cancelling")
        return True

    def wait_token(self, task_id: str) -> str | None:
        return "token-1"


class _FakeTokens:
    def __init__(self) -> None:
        self.failed: list[tuple[str, str]] = []

    def fail(self, token: str, error: str, message: str) -> bool:
        self.failed.append((token, error))
        return True


def test_a_cancel_records_who_when_and_why_once_and_wakes_the_wait_each_time():
    store, tokens = _FakeStore(_task(DELETE_ID, {"deletion_type": "manual"})), _FakeTokens()
    for _ in range(2):
        task = cancel_task(
            TaskKind.DELETE, DELETE_ID, cancelled_by="arn:aws:iam::1:role/op", reason="oops", store=store, tokens=tokens
        )
    assert task.status is TaskStatus.CANCELLING
    assert len(store.cancellations) == 1
    assert set(store.cancellations[0]) == {"cancelled_by", "cancel_requested_at", "cancel_reason"}
    assert store.cancellations[0]["cancel_reason"] == "oops"
    assert json.loads(task.model_dump_json())["metadata"]["deletion_type"] == "manual"
    assert tokens.failed == [("token-1", "TaskCancelled")] * 2


def test_a_finished_task_is_not_cancelled():
    store, tokens = _FakeStore(_task(DEPLOY_ID, {}, status="succeeded")), _FakeTokens()
    with pytest.raises(TaskNotCancellable):
        cancel_task(TaskKind.DEPLOY, DEPLOY_ID, cancelled_by="me", reason=None, store=store, tokens=tokens)
    assert (store.cancellations, tokens.failed) == ([], [])


def test_a_key_an_update_expression_names_must_be_a_metadata_field():
    assert metadata_key("removal_started_at") == "removal_started_at"
    with pytest.raises(ValueError, match="current_stepp is not a task metadata key"):
        metadata_key("current_stepp")


_BLUE = {
    "embedding_model_id": "embed",
    "endpoint_name": "embed-blue",
    "endpoint_config_name": "embed-blue-config",
    "task_id": DEPLOY_ID,
    "embedding_dimension": 384,
    "since": AT,
}
_RESOLVED = {"model_arn": "arn:aws:sagemaker:us-east-1:123456789012:model/embed", "blue": _BLUE, "at": AT}


@pytest.mark.parametrize(
    "state",
    [
        {"provisioned": {"deadline": AT, "at": AT, "resolved": _RESOLVED}},
        # an execution started before ResolveModel was folded into ProvisionGreen
        {"resolved": _RESOLVED, "provisioned": {"deadline": AT, "at": AT}},
    ],
    ids=["folded", "before-the-fold"],
)
def test_the_resolved_blue_is_read_where_either_definition_put_it(state: dict[str, Any]) -> None:
    metadata = outcome_metadata(state, TaskKind.DEPLOY)

    assert isinstance(metadata, DeployMetadata)
    assert metadata.previous_endpoint_name == "embed-blue"
    assert metadata.previous_endpoint_config_name == "embed-blue-config"
    assert metadata.previous_embedding_dimension == 384
    assert metadata.steps is not None
    assert set(metadata.steps) == {"resolve_model", "provision_green"}
