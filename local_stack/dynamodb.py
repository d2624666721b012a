"""Makes each emulated DynamoDB request atomic, as the real service is.

Moto evaluates a condition and then applies the write in separate Python steps, so two threads can
both pass `attribute_not_exists(...)` before either writes. DynamoDB never lets that happen (and the
service relies on it: one active task per model is a conditional write). One lock around every
DynamoDB request gives the emulator the same guarantee; requests are fast, so the cost is small.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

from local_stack._patch import Method

_LOCK = threading.RLock()


def _serialised(original: Method) -> Method:
    def call_action(handler: DynamoHandler, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(handler, *args, **kwargs)

    return call_action
