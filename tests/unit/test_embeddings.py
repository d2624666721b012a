import json

import pytest

from inference_deploy.errors import SmokeTestFailed
from inference_deploy.logic.embeddings import parse_embeddings

VECTORS = [[0.6, 0.8, 0.0], [0.0, 1.0, 0.0]]


@pytest.mark.parametrize(
    "answer", [VECTORS, {"embeddings": VECTORS}, {"embedding": VECTORS}, {"embeddings": VECTORS, "model": "m"}]
)
def test_the_common_shapes_give_the_vectors(answer):
    assert parse_embeddings(json.dumps(answer).encode(), expected=2) == VECTORS


def test_a_bare_vector_is_one_embedding():
    assert parse_embeddings(b"[1, 2, 3]", expected=1) == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b'{"vectors": [[1.0]]}', "without embeddings"),
        (json.dumps([[1.0, 2.0]]).encode(), "1 vectors for 2 inputs"),
        (json.dumps([[1.0, 2.0], [1.0]]).encode(), "different lengths"),
        (b"[[1.0, NaN], [1.0, 2.0]]", "NaN"),
        (b"[[1.0, Infinity], [1.0, 2.0]]", "NaN or infinite"),
        (json.dumps([[0.0, 0.0], [1.0, 2.0]]).encode(), "zero vector"),
        (json.dumps([[], []]).encode(), "not a vector"),
        (json.dumps([["a", "b"], [1.0, 2.0]]).encode(), "not a vector"),
        (json.dumps([[True, False], [1.0, 2.0]]).encode(), "not a vector"),
    ],
)
def test_unusable_answers_fail_the_smoke_test_with_a_reason(payload, reason):
    with pytest.raises(SmokeTestFailed, match=reason):
        parse_embeddings(payload, expected=2)
