"""Makes each emulated DynamoDB request atomic, as the real service is.

Moto evaluates a condition and then applies the write in separate Python steps, so two threads can
both pass `attribute_not_exists(...)` before either writes. DynamoDB never lets that happen (and the
service relies on it: one active task per model is a conditional write). One lock around every
DynamoDB request gives the emulator the same guarantee; requests are fast, so the cost is small.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from moto.dynamodb.models.table import StreamShard
from moto.dynamodb.responses import DynamoHandler

from local_stack._patch import Method

_LOCK = threading.RLock()


def _serialised(original: Method) -> Method:
    def call_action(handler: DynamoHandler, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(handler, *args, **kwargs)

    return call_action


def _backing_up_records_by_reference(original: Method | None) -> Method:
    """Moto's TransactWriteItems backs up each table it touches with a deep copy, to put it back if the
    transaction fails; a table's stream shard holds every record since the table was made, so each
    transaction cost more than the last (seconds in a test of a few dozen tasks). A record is never
    changed once written: the backup keeps the same records in a list of its own, and a failed
    transaction still leaves the stream as it was."""
    del original  # moto's shard has no __deepcopy__ of its own

    def deepcopy(shard: StreamShard, memo: dict[int, Any]) -> StreamShard:
        clone = copy.copy(shard)
        memo[id(shard)] = clone
        clone.table = copy.deepcopy(shard.table, memo)  # the table copy in progress, from memo
        clone.items = list(shard.items)
        return clone

    return deepcopy
