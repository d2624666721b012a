"""Deterministic fake embeddings and the response bodies an embedding container might send.

Vectors are derived from SHAKE-256 of the text's words and of the text, so the same text always yields
the same unit-norm vector on every machine and Python version, without numpy, and texts sharing words
have similar vectors (a probe's nearest neighbours mean something). The degraded bodies (NaN, zeros,
ragged, invalid JSON) let callers exercise their response validation.

The embedding space is a knob: `space` other than the base one maps every vector through a signed
permutation of its coordinates seeded by the name (an orthogonal map: another model's space, cosine to
the base near 0, every similarity among texts unchanged); `drift` adds a per-text perturbation of that
relative size (a fine-tune: cosine to the undrifted vector about 1/sqrt(1 + drift²)).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

_UINT32 = 2**32
BASE_SPACE = "base"
_WORD = re.compile(r"\w+")
# How much of a vector is the text's own (the rest is its words'): texts sharing no word stay apart.
_TEXT_SHARE = 0.5


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


def _raw(seed: str, dimension: int) -> list[float]:
    digest = hashlib.shake_256(seed.encode()).digest(4 * dimension)
    return [int.from_bytes(digest[i : i + 4]) / _UINT32 * 2 - 1 for i in range(0, len(digest), 4)]


def _normalised(raw: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    return [value / norm for value in raw]


def _base(text: str, dimension: int) -> list[float]:
    words = [_normalised(_raw(f"word:{word}", dimension)) for word in _WORD.findall(text.lower())]
    own = _normalised(_raw(text, dimension))
    if not words:
        return own
    scale = _TEXT_SHARE * math.sqrt(len(words))
    return _normalised([scale * own[i] + sum(word[i] for word in words) for i in range(dimension)])


def _permutation(space: str, dimension: int) -> list[tuple[int, float]]:
    """Where each coordinate goes and its sign, in `space` (the same for every vector of that space)."""
    keys = [hashlib.sha256(f"{space}:{i}".encode()).digest() for i in range(dimension)]
    order = sorted(range(dimension), key=lambda i: keys[i])
    return [(source, 1.0 if keys[source][-1] % 2 == 0 else -1.0) for source in order]


def embed(text: str, dimension: int, *, space: str = BASE_SPACE, drift: float = 0.0) -> list[float]:
    """A unit-norm vector of `dimension` floats that depends only on `text`, `space` and `drift`."""
    vector = _base(text, dimension)
    if space != BASE_SPACE:
        vector = [sign * vector[source] for source, sign in _permutation(space, dimension)]
    if drift > 0:
        noise = _normalised(_raw(f"drift:{space}:{text}", dimension))
        vector = _normalised([v + drift * n for v, n in zip(vector, noise, strict=True)])
    return vector


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


def vectors_for(
    texts: Sequence[str], dimension: int, mode: ResponseMode, *, space: str = BASE_SPACE, drift: float = 0.0
) -> list[list[float]]:
    """The vectors a model in `mode` returns (ragged: vector i has dimension-1-i values, at least 1)."""
    match mode:
        case ResponseMode.NAN:
            return [[math.nan] * dimension for _ in texts]
        case ResponseMode.ZEROS:
            return [[0.0] * dimension for _ in texts]
        case ResponseMode.RAGGED:
            return [
                embed(text, max(1, dimension - 1 - index), space=space, drift=drift) for index, text in enumerate(texts)
            ]
        case _:
            return [embed(text, dimension, space=space, drift=drift) for text in texts]


def render(vectors: list[list[float]], shape: ResponseShape) -> Any:
    """Wrap vectors the way the configured container does (`embedding` is flat for a single input)."""
    match shape:
        case ResponseShape.EMBEDDINGS:
            return {"embeddings": vectors}
        case ResponseShape.EMBEDDING:
            return {"embedding": vectors[0] if len(vectors) == 1 else vectors}
        case _:
            return vectors


def response_body(
    texts: Sequence[str],
    *,
    dimension: int,
    mode: ResponseMode,
    shape: ResponseShape,
    space: str = BASE_SPACE,
    drift: float = 0.0,
) -> str:
    if mode is ResponseMode.INVALID_JSON:
        return '{"embeddings": [[0.1, 0.2,'
    return json.dumps(render(vectors_for(texts, dimension, mode, space=space, drift=drift), shape))
