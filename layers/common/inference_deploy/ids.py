"""Time-sortable task ids (ULID: 48-bit millisecond time + 80 random bits, Crockford base32).

Sorting ids sorts tasks by creation time, which is what the ByModelKind index relies on; no counter
item is needed, so id creation never contends on a hot key.
"""

from __future__ import annotations

import secrets
import time

from inference_deploy.models.task import TaskKind

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_ulid(now_ms: int | None = None) -> str:
    millis = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return _encode(millis, 10) + _encode(secrets.randbits(80), 16)


def new_task_id(kind: TaskKind, now_ms: int | None = None) -> str:
    return f"{kind.value}-{new_ulid(now_ms)}"
