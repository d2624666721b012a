"""The service's EventBridge bus: PutEvents in batches, entries EventBridge refused retried, and what
still fails after that handed back to the caller (which must not let it be lost)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from inference_deploy.adapters import aws
from inference_deploy.observability import logger

MAX_ENTRIES = 10  # PutEvents takes at most 10 entries per call
ATTEMPTS = 3
_BACKOFF_SECONDS = 0.2


class EventBus:
    def __init__(self, bus_name: str, client: Any = None) -> None:
        self._bus = bus_name
        self._client = client or aws.events()

    def put(self, entries: list[dict[str, Any]]) -> list[int]:
        """Publish `entries` (Source, DetailType, Detail, …) on the bus; the indexes of those that
        could not be published after ATTEMPTS tries (refused entries or failed calls)."""
        failed: list[int] = []
        for start in range(0, len(entries), MAX_ENTRIES):
            indexes = list(range(start, min(start + MAX_ENTRIES, len(entries))))
            failed.extend(self._put_batch(entries, indexes))
        return failed

    def _put_batch(self, entries: list[dict[str, Any]], indexes: list[int]) -> list[int]:
        pending = indexes
        for attempt in range(1, ATTEMPTS + 1):
            try:
                answer = self._client.put_events(Entries=[{**entries[i], "EventBusName": self._bus} for i in pending])
            except (ClientError, BotoCoreError) as exc:
                logger.warning("PutEvents failed", extra={"attempt": attempt, "error": type(exc).__name__})
            else:
                if not answer.get("FailedEntryCount"):
                    return []
                results = answer.get("Entries", [])
                refused = [i for i, result in zip(pending, results, strict=False) if "ErrorCode" in result]
                codes = sorted({r["ErrorCode"] for r in results if "ErrorCode" in r})
                logger.warning("EventBridge refused entries", extra={"attempt": attempt, "codes": codes})
                pending = refused or pending
            if attempt < ATTEMPTS:
                time.sleep(_BACKOFF_SECONDS * 2 ** (attempt - 1))
        return pending
