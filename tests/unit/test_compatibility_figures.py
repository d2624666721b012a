"""The embedding-compatibility figures against cases worked out by hand."""

from __future__ import annotations

import math

import pytest

from inference_deploy.logic.compatibility import (
    compare,
    cosine,
    nearest,
    neighbour_overlap,
    percentile,
    ranks,
    similarity_matrix,
    spearman,
    upper_triangle,
)
from inference_deploy.logic.embedding_guard import batches, default_probe_texts
from inference_deploy.models.requests import MAX_PROBE_TEXT_CHARS, MAX_PROBE_TEXTS_BYTES, MIN_PROBE_TEXTS


def test_cosine_of_hand_computed_pairs():
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([1, 0], [-2, 0]) == -1.0
    assert cosine([3, 4], [6, 8]) == pytest.approx(1.0)
    assert cosine([1, 1], [1, 0]) == pytest.approx(1 / math.sqrt(2))  # 45 degrees
    with pytest.raises(ValueError, match="cannot be compared"):
        cosine([1, 0], [1, 0, 0])
    with pytest.raises(ValueError, match="zero vector"):
        cosine([0, 0], [1, 0])


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 0.05) == 1.0  # ceil(0.05 * 20) = 1st
    assert percentile(values, 0.5) == 10.0
    assert percentile([0.3, 0.1, 0.2], 0.05) == 0.1  # at least the smallest
    assert percentile([0.9], 0.05) == 0.9


def test_ranks_average_ties():
    assert ranks([10.0, 30.0, 20.0]) == [1.0, 3.0, 2.0]
    assert ranks([1.0, 2.0, 2.0, 3.0]) == [1.0, 2.5, 2.5, 4.0]
    assert ranks([5.0, 5.0, 5.0]) == [2.0, 2.0, 2.0]


def test_spearman_of_hand_computed_orders():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # ranks [1,2,3] vs [1,3,2]: d = [0,1,1], rho = 1 - 6*2 / (3*(9-1)) = 0.5
    assert spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    # monotone but not linear: Spearman still 1
    assert spearman([1, 2, 3, 4], [1, 4, 9, 100]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [7, 7, 7]) == 0.0  # nothing to order


def test_similarity_matrix_and_upper_triangle():
    matrix = similarity_matrix([[1, 0], [0, 2], [1, 1]])
    assert matrix[0][0] == pytest.approx(1.0)
    assert matrix[0][1] == 0.0
    assert matrix[0][2] == pytest.approx(1 / math.sqrt(2))
    assert upper_triangle([[1, 2, 3], [2, 1, 4], [3, 4, 1]]) == [2, 3, 4]


def test_nearest_and_neighbour_overlap_by_hand():
    # 4 probes on a line of angles 0, 10, 20, 90 degrees: 0's nearest are 10 then 20
    blue = similarity_matrix([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in (0, 10, 20, 90)])
    assert nearest(blue, 0, 2) == {1, 2}
    assert nearest(blue, 3, 1) == {2}
    # green swaps which of 0 and 3 probe 2 is closer to (angles 0, 10, 80, 90)
    green = similarity_matrix([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in (0, 10, 80, 90)])
    # k=1: 0->1 both; 1->0 both; 2->1 in blue, 2->3 in green; 3->2 both  => (1+1+0+1)/4
    assert neighbour_overlap(blue, green, 1) == pytest.approx(0.75)
    # k is cut to the probes there are: with 4 probes, 10 neighbours are all 3 others, always the same
    assert neighbour_overlap(blue, green, 10) == 1.0


def test_the_same_vectors_score_one_everywhere():
    vectors = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]]
    figures = compare(vectors, vectors)
    assert figures.model_dump() == {
        "probe_count": 4,
        "mean_cosine": 1.0,
        "p5_cosine": 1.0,
        "neighbour_overlap_at_10": 1.0,
        "pairwise_similarity_spearman": 1.0,
    }


def test_a_rotation_keeps_the_rotation_invariant_figures_and_loses_the_cosine():
    """A 90-degree rotation in the plane: each vector's cosine with its image is 0, every similarity
    among the vectors is kept."""
    blue = [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8]]
    green = [[-y, x] for x, y in blue]
    figures = compare(blue, green)
    assert figures.mean_cosine == 0.0
    assert figures.p5_cosine == 0.0
    assert figures.neighbour_overlap_at_10 == 1.0
    assert figures.pairwise_similarity_spearman == 1.0


def test_a_mixed_case_by_hand():
    """Probe 0 flips (cosine -1), the others are kept: mean (-1 + 1 + 1) / 3 = 1/3, p5 = -1."""
    blue = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]
    green = [[-1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]
    figures = compare(blue, green)
    assert figures.mean_cosine == pytest.approx(1 / 3, abs=1e-6)
    assert figures.p5_cosine == -1.0
    # pairs (0,1) (0,2) (1,2): blue [0, 0.6, 0.8] ranks [1,2,3]; green [0, -0.6, 0.8] ranks [2,1,3]:
    # d = [1,1,0], rho = 1 - 6*2 / (3*(9-1)) = 0.5
    assert figures.pairwise_similarity_spearman == pytest.approx(0.5)
    # k = 2 (all others) for 3 probes: always full overlap
    assert figures.neighbour_overlap_at_10 == 1.0


def test_compare_needs_matching_probe_sets():
    with pytest.raises(ValueError, match="same probes"):
        compare([[1.0, 0.0]], [[1.0, 0.0]])
    with pytest.raises(ValueError, match="same probes"):
        compare([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0]])


def test_the_shipped_probe_set_fits_the_request_bounds():
    texts = default_probe_texts()
    assert len(texts) >= 64
    assert len(set(texts)) == len(texts)
    assert len(texts) >= MIN_PROBE_TEXTS
    assert all(0 < len(text) <= MAX_PROBE_TEXT_CHARS for text in texts)
    assert sum(len(text.encode()) for text in texts) <= MAX_PROBE_TEXTS_BYTES


def test_batches_cover_every_text_once_in_order():
    texts = [str(i) for i in range(70)]
    split = batches(texts, 32)
    assert [len(b) for b in split] == [32, 32, 6]
    assert [t for b in split for t in b] == texts
