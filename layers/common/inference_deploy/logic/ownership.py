"""An admin's transfer of a model to another owner team: recorded on the model's item, then published."""

from __future__ import annotations

from inference_deploy.adapters.event_bus import EventBus
from inference_deploy.adapters.model_store import ModelStore
from inference_deploy.models.common import utc_now
from inference_deploy.models.events import EVENT_SOURCE, OWNER_CHANGE
from inference_deploy.models.serving import ModelOwner
from inference_deploy.observability import logger, metrics


def transfer_owner(model_id: str, team: str, *, by: str, models: ModelStore, bus: EventBus) -> ModelOwner:
    """Pin `team` as the model's owner (ModelNotFound for a model never deployed), then publish the change.
    The record is what decides; an event that cannot be published is logged and counted, not retried."""
    owner = models.transfer(ModelOwner(embedding_model_id=model_id, team=team, pinned_by=by, pinned_at=utc_now()))
    logger.info("model owner transferred", extra={"embedding_model_id": model_id, "previous_team": owner.previous_team})
    entry = {"Source": EVENT_SOURCE, "DetailType": OWNER_CHANGE, "Detail": owner.model_dump_json(), "Resources": []}
    if bus.put([entry]):
        logger.error("the owner change event was not published", extra={"embedding_model_id": model_id})
        metrics.add_metric(name="TaskEventsNotPublished", unit="Count", value=1)
    return owner
