"""Which endpoint serves a model."""

from __future__ import annotations

from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.errors import ModelNotServed
from inference_deploy.models.serving import ServingRecord
from inference_deploy.observability import logger


def serving_record(embedding_model_id: str, models: ModelStore) -> ServingRecord:
    logger.append_keys(embedding_model_id=embedding_model_id)
    record = models.serving(embedding_model_id)
    if record is None:
        raise ModelNotServed(f"model {embedding_model_id} is not served by any endpoint")
    return record
