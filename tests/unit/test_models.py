from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from inference_deploy.models.requests import DeleteRequest, DeployRequest
from inference_deploy.models.task import Task, TaskKind, TaskStatus


@pytest.mark.parametrize("model_id", ["a", "embed-deploy-123", "a--b", "x" * 63, "a" + "-b" * 31])
def test_model_ids_following_sagemakers_name_rule_are_accepted(model_id):
    assert DeployRequest(embedding_model_id=model_id).embedding_model_id == model_id


@pytest.mark.parametrize("model_id", ["", "-a", "a-", "a_b", "a b", "x" * 64, "é", "a/b", "A--b", "Embed"])
def test_model_ids_sagemaker_would_reject_are_refused(model_id):
    with pytest.raises(ValidationError):
        DeployRequest(embedding_model_id=model_id)


def test_delete_requests_default_to_a_manual_deletion_and_refuse_unknown_fields():
    assert DeleteRequest(embedding_model_id="m").deletion_type == "manual"
    with pytest.raises(ValidationError):
        DeleteRequest.model_validate({"embedding_model_id": "m", "force": True})


def test_timestamps_serialize_as_rfc3339_utc_with_z():
    created = datetime(2024, 5, 21, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    task = Task(
        id="deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3",
        embedding_model_id="embed-deploy-123",
        status=TaskStatus.PENDING,
        created_at=created,
        updated_at=datetime(2024, 5, 21, 15, 0, tzinfo=UTC),
    )
    dumped = task.model_dump(mode="json")
    assert dumped["created_at"] == "2024-05-21T15:00:00Z"
    assert dumped["updated_at"] == "2024-05-21T15:00:00Z"
    assert task.kind is TaskKind.DEPLOY


@pytest.mark.parametrize(("raw", "count"), [("3", 3), ("3.0", 3), ("100.0", 100)])
def test_an_instance_count_is_any_json_whole_number(raw, count):
    request = DeployRequest.model_validate_json(f'{{"embedding_model_id": "m", "initial_instance_count": {raw}}}')

    assert request.initial_instance_count == count
    assert type(request.initial_instance_count) is int


@pytest.mark.parametrize("raw", ["3.5", '"3"', "true", "0", "101.0"])
def test_an_instance_count_that_is_not_a_whole_number_in_range_is_refused(raw):
    with pytest.raises(ValidationError):
        DeployRequest.model_validate_json(f'{{"embedding_model_id": "m", "initial_instance_count": {raw}}}')
