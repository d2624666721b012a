"""Reading an embedding endpoint's answer: the common response shapes, and what makes a vector usable."""

from __future__ import annotations

import json
import math
from typing import Any

from inference_deploy.errors import SmokeTestFailed


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _vector(value: Any, who: str) -> list[float]:
    if not isinstance(value, list) or not value or not all(_is_number(v) for v in value):
        raise SmokeTestFailed(f"{who} answered something that is not a vector of numbers")
    vector = [float(v) for v in value]
    if not all(math.isfinite(v) for v in vector):
        raise SmokeTestFailed(f"{who} answered a vector with NaN or infinite values")
    if math.fsum(v * v for v in vector) == 0.0:
        raise SmokeTestFailed(f"{who} answered a zero vector")
    return vector


def parse_embeddings(payload: bytes, expected: int, who: str = "green") -> list[list[float]]:
    """The vectors of a batch answer: a list of vectors, `{"embeddings": …}` or `{"embedding": …}`
    (a bare vector counts as one). Exactly one usable vector per input, all of one dimension: a model
    that answers NaN, zeros or ragged vectors would poison every index built on it."""
    try:
        data: Any = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SmokeTestFailed(f"{who} answered something that is not JSON") from exc
    if isinstance(data, dict):
        key = next((k for k in ("embeddings", "embedding") if k in data), None)
        if key is None:
            raise SmokeTestFailed(f"{who} answered an object without embeddings (keys: {sorted(data)[:5]})")
        data = data[key]
    if isinstance(data, list) and data and all(_is_number(v) for v in data):
        data = [data]
    if not isinstance(data, list) or len(data) != expected:
        count = len(data) if isinstance(data, list) else 0
        raise SmokeTestFailed(f"{who} answered {count} vectors for {expected} inputs")
    vectors = [_vector(v, who) for v in data]
    dimensions = sorted({len(v) for v in vectors})
    if len(dimensions) != 1:
        raise SmokeTestFailed(f"{who} answered vectors of different lengths: {dimensions}")
    return vectors
