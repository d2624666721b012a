import re

from inference_deploy.ids import new_task_id
from inference_deploy.models.common import TASK_ID_PATTERN
from inference_deploy.models.task import TaskKind


def test_task_ids_carry_their_kind_and_match_the_public_pattern():
    for kind in TaskKind:
        task_id = new_task_id(kind)
        assert task_id.startswith(f"{kind.value}-")
        assert re.fullmatch(TASK_ID_PATTERN, task_id)


def test_task_ids_sort_by_creation_time():
    ids = [new_task_id(TaskKind.DEPLOY, now_ms=ms) for ms in (1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000)]
    assert ids == sorted(ids)


def test_task_ids_are_unique_within_one_millisecond():
    ids = {new_task_id(TaskKind.DEPLOY, now_ms=1_700_000_000_000) for _ in range(10_000)}
    assert len(ids) == 10_000


def test_ids_made_in_the_same_millisecond_keep_creation_order():
    ids = [new_task_id(TaskKind.DEPLOY, now_ms=1_700_000_000_123) for _ in range(1_000)]
    assert ids == sorted(ids)
