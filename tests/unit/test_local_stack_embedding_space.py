"""The emulated model's embedding space knob: same space, a fine-tune's drift, another model's space."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from inference_deploy.logic.compatibility import cosine, similarity_matrix
from local_stack import SageMakerEmulator
from local_stack.embeddings import embed
from tests.unit.test_local_stack_sagemaker import Endpoints

TEXTS = ["tomato soup recipe", "tomato sauce with basil", "engine oil change", "oil filter for my car"]


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    with mock_aws(), SageMakerEmulator():
        yield Endpoints()


def test_texts_sharing_words_are_closer_than_texts_that_do_not():
    soup, sauce, engine = (embed(text, 256) for text in TEXTS[:3])
    assert cosine(soup, sauce) > cosine(soup, engine) + 0.2


def test_the_same_space_answers_the_same_vectors(endpoints: Endpoints) -> None:
    endpoints.create("blue", EMULATOR_EMBEDDING_SPACE="v1")
    endpoints.create("green", EMULATOR_EMBEDDING_SPACE="v1")
    assert endpoints.invoke("blue", *TEXTS) == endpoints.invoke("green", *TEXTS)


def test_a_drift_is_a_fine_tune_close_to_the_original(endpoints: Endpoints) -> None:
    endpoints.create("blue")
    endpoints.create("green", EMULATOR_EMBEDDING_DRIFT="0.3")
    cosines = [
        cosine(b, g) for b, g in zip(endpoints.invoke("blue", *TEXTS), endpoints.invoke("green", *TEXTS), strict=True)
    ]
    # a random perturbation of relative size 0.3 in 384 dimensions: about 1 / sqrt(1 + 0.09) = 0.958
    assert all(abs(c - 1 / math.sqrt(1.09)) < 0.03 for c in cosines), cosines


def test_another_space_is_an_orthogonal_map_far_from_the_original(endpoints: Endpoints) -> None:
    endpoints.create("blue")
    endpoints.create("green", EMULATOR_EMBEDDING_SPACE="another-model")
    blue, green = endpoints.invoke("blue", *TEXTS), endpoints.invoke("green", *TEXTS)
    assert all(abs(cosine(b, g)) < 0.25 for b, g in zip(blue, green, strict=True))
    # every similarity among the texts is kept: the meaning survives, the coordinates do not
    for row_blue, row_green in zip(similarity_matrix(blue), similarity_matrix(green), strict=True):
        assert row_green == pytest.approx(row_blue, abs=1e-9)


def test_more_inputs_than_the_containers_batch_limit_is_a_413_model_error(endpoints: Endpoints) -> None:
    endpoints.create("small", EMULATOR_MAX_BATCH_SIZE="2")
    assert len(endpoints.invoke("small", "a", "b")) == 2
    with pytest.raises(ClientError) as raised:
        endpoints.invoke("small", "a", "b", "c")
    error = raised.value.response["Error"]
    assert error["Code"] == "ModelError"
    assert "(413)" in error["Message"]
    assert "batch size 3 > maximum allowed batch size 2" in error["Message"]


@pytest.mark.parametrize(
    "environment",
    [{"EMULATOR_EMBEDDING_DRIFT": "-0.1"}, {"EMULATOR_EMBEDDING_DRIFT": "nan"}, {"EMULATOR_EMBEDDING_SPACE": " "}],
)
def test_bad_space_knobs_fail_create_endpoint(endpoints: Endpoints, environment: dict[str, str]) -> None:
    with pytest.raises(ClientError, match="invalid emulator settings"):
        endpoints.create("bad", **environment)
