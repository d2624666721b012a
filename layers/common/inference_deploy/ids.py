"""Time-sortable task ids (ULID: 48-bit millisecond time + 80 random bits, Crockford base32).

Sorting ids sorts tasks by creation time, which is what the ByModelKind index relies on; no counter
item is needed, so id creation never contends on a hot key.
"""

from __future__ import annotations

import secrets
import threading
import time

from inference_deploy.models.task import TaskKind

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


_lock = threading.Lock()
_last: tuple[int, int] = (-1, 0)


def new_ulid(now_ms: int | None = None) -> str:
    """Monotonic within a process: a second id in the same millisecond increments the random part,
    so ids made one after the other always sort in creation order."""
    global _last  # noqa: PLW0603
    millis = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    with _lock:
        last_ms, last_random = _last
        random = last_random + 1 if millis == last_ms and last_random + 1 < 2**80 else secrets.randbits(79)
        _last = (millis, random)
    return _encode(millis, 10) + _encode(random, 16)


def new_task_id(kind: TaskKind, now_ms: int | None = None) -> str:
    return f"{kind.value}-{new_ulid(now_ms)}"
