"""Deterministic fake embeddings and the response bodies an embedding container might send.

Vectors are derived from SHAKE-256 of the text, so the same text always yields the same unit-norm
vector on every machine and Python version, without numpy. The degraded bodies (NaN, zeros, ragged,
invalid JSON) let callers exercise their response validation.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

_UINT32 = 2**32


class ResponseMode(StrEnum):
    EMBEDDINGS = "embeddings"
    NAN = "nan"
    ZEROS = "zeros"
    RAGGED = "ragged"
    INVALID_JSON = "invalid_json"
    ERROR = "error"


class ResponseShape(StrEnum):
    LIST = "list"
    EMBEDDINGS = "embeddings"
    EMBEDDING = "embedding"


class InvalidInput(ValueError):
    """The request body is not one of the accepted input documents."""


def embed(text: str, dimension: int) -> list[float]:
    """A unit-norm vector of `dimension` floats that depends only on `text`."""
    digest = hashlib.shake_256(text.encode()).digest(4 * dimension)
    raw = [int.from_bytes(digest[i : i + 4]) / _UINT32 * 2 - 1 for i in range(0, len(digest), 4)]
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    return [value / norm for value in raw]


def parse_inputs(body: str | bytes) -> list[str]:
    """Texts from `{"inputs": [...]}`, `{"inputs": "..."}` or `{"text_inputs": [...]}`."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"request body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput("request body must be a JSON object")
    inputs = document.get("inputs", document.get("text_inputs"))
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(item, str) for item in inputs):
        raise InvalidInput('expected {"inputs": [str, ...]}, {"inputs": str} or {"text_inputs": [str, ...]}')
    return inputs


def vectors_for(texts: Sequence[str], dimension: int, mode: ResponseMode) -> list[list[float]]:
    """The vectors a model in `mode` returns (ragged: vector i has dimension-1-i values, at least 1)."""
    match mode:
        case ResponseMode.NAN:
            return [[math.nan] * dimension for _ in texts]
        case ResponseMode.ZEROS:
            return [[0.0] * dimension for _ in texts]
        case ResponseMode.RAGGED:
            return [embed(text, max(1, dimension - 1 - index)) for index, text in enumerate(texts)]
        case _:
            return [embed(text, dimension) for text in texts]


def render(vectors: list[list[float]], shape: ResponseShape) -> Any:
    """Wrap vectors the way the configured container does (`embedding` is flat for a single input)."""
    match shape:
        case ResponseShape.EMBEDDINGS:
            return {"embeddings": vectors}
        case ResponseShape.EMBEDDING:
            return {"embedding": vectors[0] if len(vectors) == 1 else vectors}
        case _:
            return vectors


def response_body(texts: Sequence[str], *, dimension: int, mode: ResponseMode, shape: ResponseShape) -> str:
    if mode is ResponseMode.INVALID_JSON:
        return '{"embeddings": [[0.1, 0.2,'
    return json.dumps(render(vectors_for(texts, dimension, mode), shape))
