"""Do blue's and green's vectors live in the same space? Figures from the two answers to one probe set.

`mean_cosine` and `p5_cosine` compare each text's blue and green vectors directly: what a query embedded
by green finds among documents embedded by blue depends on them. `neighbour_overlap_at_10` and
`pairwise_similarity_spearman` compare each space with itself only, so a rotation (or any orthogonal map)
leaves them at 1: high there and low cosine means the meaning survived but the indexes must be re-embedded.

Pure Python, the inner products in C (math.sumprod): the default 80 probes of 384 dimensions take a few
hundred milliseconds, the largest request (128 probes of 4,096) a few seconds, inside the step's timeout;
numpy would add tens of megabytes to the layer every function loads (bench/package_weight.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from inference_deploy.models.task import DeployMetadata
from inference_deploy.models.workflow import CompatibilityCheck, CompatibilityFigures

NEIGHBOURS = 10

type Vectors = Sequence[Sequence[float]]


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.sumprod(vector, vector))
    if norm == 0.0:
        raise ValueError("a zero vector has no direction")
    return [value / norm for value in vector]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        raise ValueError(f"vectors of {len(a)} and {len(b)} values cannot be compared")
    return math.sumprod(_unit(a), _unit(b))


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def similarity_matrix(vectors: Vectors) -> list[list[float]]:
    """Cosines of every pair (symmetric: each pair computed once)."""
    units = [_unit(v) for v in vectors]
    matrix = [[1.0] * len(units) for _ in units]
    for i, a in enumerate(units):
        for j in range(i + 1, len(units)):
            matrix[i][j] = matrix[j][i] = math.sumprod(a, units[j])
    return matrix


def nearest(similarities: Sequence[Sequence[float]], index: int, k: int) -> set[int]:
    """The k other probes most similar to probe `index` (ties broken by position, so it is deterministic)."""
    others = sorted((j for j in range(len(similarities)) if j != index), key=lambda j: (-similarities[index][j], j))
    return set(others[:k])


def neighbour_overlap(blue: Sequence[Sequence[float]], green: Sequence[Sequence[float]], k: int) -> float:
    """Mean over probes of |blue's k nearest ∩ green's k nearest| / k (k is cut to the probes there are)."""
    count = len(blue)
    k = min(k, count - 1)
    overlaps = [len(nearest(blue, i, k) & nearest(green, i, k)) / k for i in range(count)]
    return math.fsum(overlaps) / count


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span (as Spearman's rho requires)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            result[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return result


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's r; 0.0 when either side does not vary (no ordering to agree on)."""
    mean_x, mean_y = math.fsum(x) / len(x), math.fsum(y) / len(y)
    dx, dy = [v - mean_x for v in x], [v - mean_y for v in y]
    denominator = math.sqrt(math.sumprod(dx, dx) * math.sumprod(dy, dy))
    return math.sumprod(dx, dy) / denominator if denominator else 0.0


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    return pearson(ranks(x), ranks(y))


def upper_triangle(matrix: Sequence[Sequence[float]]) -> list[float]:
    return [matrix[i][j] for i in range(len(matrix)) for j in range(i + 1, len(matrix))]


def _rounded(value: float) -> float:
    return round(value, 6)


def compare(blue: Vectors, green: Vectors) -> CompatibilityFigures:
    """The figures for one probe set embedded by blue and by green (same order, same dimension)."""
    if len(blue) != len(green) or len(blue) < 2:
        raise ValueError(f"need the same probes, at least 2, from both sides (got {len(blue)} and {len(green)})")
    cosines = [cosine(b, g) for b, g in zip(blue, green, strict=True)]
    blue_similarities, green_similarities = similarity_matrix(blue), similarity_matrix(green)
    return CompatibilityFigures(
        probe_count=len(blue),
        mean_cosine=_rounded(math.fsum(cosines) / len(cosines)),
        p5_cosine=_rounded(percentile(cosines, 0.05)),
        neighbour_overlap_at_10=_rounded(neighbour_overlap(blue_similarities, green_similarities, NEIGHBOURS)),
        pairwise_similarity_spearman=_rounded(
            spearman(upper_triangle(blue_similarities), upper_triangle(green_similarities))
        ),
    )


def compatibility_metadata(check: CompatibilityCheck, metadata: DeployMetadata | None = None) -> DeployMetadata:
    """The task's metadata keys for what the guard found (the figures null when it had nothing to compare,
    with the reason), set on `metadata` (a new one if none); `reembedding_required` also reaches the task
    events, whose `detail` is the task."""
    metadata = metadata if metadata is not None else DeployMetadata()
    metadata.compatibility = check.figures.model_dump() if check.figures else None
    metadata.reembedding_required = check.reembedding_required
    if check.skipped is not None:
        metadata.compatibility_skipped = check.skipped
    return metadata
