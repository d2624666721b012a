"""Reading tasks and serving records: what the read-only API function needs, and nothing of creation."""

from __future__ import annotations

import re

from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import ModelHasNoTasks, ModelNotServed, TaskNotFound
from inference_deploy.models.common import MODEL_ID_PATTERN, TASK_ID_PATTERN
from inference_deploy.models.serving import ServingRecord
from inference_deploy.models.task import Task, TaskKind
from inference_deploy.observability import logger


def get_task(kind: TaskKind, task_id: str, store: TaskStore) -> Task:
    """A task by id, only under its own kind's route: a delete task is not found under /deploy/."""
    if not task_id.startswith(f"{kind.value}-") or re.fullmatch(TASK_ID_PATTERN, task_id) is None:
        raise TaskNotFound(f"no {kind.value} task {task_id}")
    logger.append_keys(task_id=task_id)
    return store.get(task_id)


def latest_task(kind: TaskKind, embedding_model_id: str, store: TaskStore) -> Task:
    if re.fullmatch(MODEL_ID_PATTERN, embedding_model_id) is None:
        raise ModelHasNoTasks(f"model {embedding_model_id} has no {kind.value} task")
    logger.append_keys(embedding_model_id=embedding_model_id)
    return store.latest_for_model(embedding_model_id, kind)


def serving_record(embedding_model_id: str, models: ModelStore) -> ServingRecord:
    if re.fullmatch(MODEL_ID_PATTERN, embedding_model_id) is None:
        raise ModelNotServed(f"model {embedding_model_id} is not served by any endpoint")
    logger.append_keys(embedding_model_id=embedding_model_id)
    record = models.serving(embedding_model_id)
    if record is None:
        raise ModelNotServed(f"model {embedding_model_id} is not served by any endpoint")
    return record
