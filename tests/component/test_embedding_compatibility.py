"""The embedding-compatibility guard on the local stack: blue and green embed the same probe texts after
the smoke test, and a green whose vectors left blue's space fails before any traffic moves.

The emulated model's space is a knob of the SageMaker Model (EMULATOR_EMBEDDING_SPACE, _DRIFT): the same
space answers the same vectors, a drift is a fine-tune, another space is another model of one dimension."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inference_deploy.logic.embedding_guard import default_probe_texts
from tests.component.task_event_stream import BusReader, task_event_stream
from tests.component.workflow_helpers import endpoints_of, executed_states, read, request, run_task
from tests.conftest import register_model, wait_for

MODEL = "embed-compat"
FIGURES = {"probe_count", "mean_cosine", "p5_cosine", "neighbour_overlap_at_10", "pairwise_similarity_spearman"}


def _serving_endpoint() -> str:
    response = read("models", MODEL)
    assert response.status == 200, response.body
    return str(response.body["endpoint_name"])


def _first_deploy(aws: Any) -> str:
    register_model(aws, MODEL)
    task = run_task(aws, "deploy", MODEL)
    assert task["status"] == "succeeded", task["error"]
    return str(task["metadata"]["endpoint_name"])


def _count_invocations(faults: Any) -> None:
    """Hook InvokeEndpoint on the service's client (a fault that never fires) so its calls are counted."""
    faults.fail("sagemaker-runtime", "InvokeEndpoint", "NeverAnswered", times=0)


def test_a_first_deploy_has_no_blue_to_compare_and_says_so(aws):
    register_model(aws, MODEL)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    metadata = task["metadata"]
    assert metadata["compatibility"] is None
    assert metadata["compatibility_skipped"] == "no_blue"
    assert metadata["reembedding_required"] is False
    assert "embedding_compatibility" in metadata["steps"]


def test_the_same_space_passes_with_figures_of_one(aws):
    blue = _first_deploy(aws)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    figures = task["metadata"]["compatibility"]
    assert set(figures) == FIGURES
    assert figures["probe_count"] == len(default_probe_texts()) >= 64
    assert figures["mean_cosine"] == figures["p5_cosine"] == 1.0
    assert figures["neighbour_overlap_at_10"] == figures["pairwise_similarity_spearman"] == 1.0
    assert task["metadata"]["reembedding_required"] is False
    assert "compatibility_skipped" not in task["metadata"]
    assert _serving_endpoint() == task["metadata"]["endpoint_name"] != blue


def test_a_fine_tune_drift_passes_with_high_but_imperfect_figures(aws):
    _first_deploy(aws)
    register_model(aws, MODEL, embedding_drift="0.3")

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "succeeded", task["error"]
    figures = task["metadata"]["compatibility"]
    assert 0.9 < figures["mean_cosine"] < 0.99
    assert figures["p5_cosine"] <= figures["mean_cosine"]
    assert 0.5 < figures["neighbour_overlap_at_10"] < 1
    assert 0.8 < figures["pairwise_similarity_spearman"] < 1
    assert task["metadata"]["reembedding_required"] is False


def test_a_stricter_threshold_in_the_request_refuses_the_same_drift(aws):
    blue = _first_deploy(aws)
    register_model(aws, MODEL, embedding_drift="0.3")

    task = run_task(aws, "deploy", MODEL, min_mean_cosine=0.99)

    assert task["status"] == "failed"
    assert task["error"]["code"] == "embedding_space_changed"
    assert "below 0.99" in task["error"]["message"]
    assert task["metadata"]["min_mean_cosine"] == 0.99
    assert 0.9 < task["metadata"]["compatibility"]["mean_cosine"] < 0.99
    assert _serving_endpoint() == blue
    assert endpoints_of(aws, MODEL) == {blue: "InService"}


def test_another_space_fails_the_deploy_with_the_figures_and_leaves_blue_serving(aws):
    blue = _first_deploy(aws)
    register_model(aws, MODEL, embedding_space="swapped-model")

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "failed"
    assert task["error"]["code"] == "embedding_space_changed"
    assert "allow_embedding_change" in task["error"]["message"]
    figures = task["metadata"]["compatibility"]
    assert abs(figures["mean_cosine"]) < 0.1
    assert figures["mean_cosine"] != 0.0  # measured, not a placeholder
    assert task["metadata"]["green_discarded"] is True
    assert task["metadata"]["reembedding_required"] is False
    # an orthogonal map of blue's space: the rotation-invariant figures see the meaning kept
    assert figures["neighbour_overlap_at_10"] == figures["pairwise_similarity_spearman"] == 1.0
    assert f"{figures['mean_cosine']:.4f}" in task["error"]["message"]
    assert _serving_endpoint() == blue
    assert endpoints_of(aws, MODEL) == {blue: "InService"}
    # the smoke test ran in the same step: the step recorded what green answered before failing
    assert task["metadata"]["embedding_dimension"] == 384
    assert task["metadata"]["smoke_test_latency_ms"] >= 0
    states = executed_states(aws, task["execution_arn"])
    assert states[states.index("PrepareGreen") :][:2] == ["PrepareGreen", "BeginDiscard"]
    assert "SwitchTraffic" not in states
    runs = [r for r in task["metadata"]["step_runs"] if r["step"] == "PrepareGreen"]
    assert runs[-1]["error"] == "EmbeddingSpaceChanged"


def test_another_space_goes_through_when_allowed_and_the_task_event_says_to_re_embed(aws):
    bus, mapping = BusReader(aws), task_event_stream(aws)
    blue = _first_deploy(aws)
    register_model(aws, MODEL, embedding_space="swapped-model")

    task = run_task(aws, "deploy", MODEL, allow_embedding_change=True)
    mapping.drain()

    assert task["status"] == "succeeded", task["error"]
    metadata = task["metadata"]
    assert metadata["allow_embedding_change"] is True
    assert abs(metadata["compatibility"]["mean_cosine"]) < 0.1
    assert metadata["reembedding_required"] is True
    assert _serving_endpoint() == metadata["endpoint_name"] != blue
    succeeded = [
        e["detail"]
        for e in bus.received()
        if e["detail-type"] == "Inference Deployment Task Status Change"
        and e["detail"]["id"] == task["id"]
        and e["detail"]["status"] == "succeeded"
    ]
    assert len(succeeded) == 1
    assert succeeded[0]["metadata"]["reembedding_required"] is True
    assert abs(succeeded[0]["metadata"]["compatibility"]["mean_cosine"]) < 0.1
    assert mapping.function_errors == []


def test_the_request_probe_texts_are_the_ones_compared_in_batches_the_model_takes(aws, faults):
    _first_deploy(aws)
    texts = [f"probe number {i}: {word}" for i, word in enumerate(["alpha", "beta", "gamma", "delta"] * 10)]
    _count_invocations(faults)

    task = run_task(aws, "deploy", MODEL, probe_texts=texts)

    assert task["status"] == "succeeded", task["error"]
    assert task["metadata"]["probe_set"] == "request"
    assert task["metadata"]["compatibility"]["probe_count"] == 40
    # smoke test: 1 call; the guard: blue and green, ceil(40 / 32) = 2 calls each (the test stack's batch size)
    assert faults.calls["InvokeEndpoint"] == 1 + 2 * 2


def test_a_container_taking_smaller_batches_than_the_stack_sends_fails_the_deploy_and_keeps_blue(aws):
    """The emulated container refuses more inputs than its batch limit as TEI does (413): the guard cannot
    compare, and the deploy fails before any traffic moves (EmbeddingProbeBatchSize must fit the model)."""
    blue = _first_deploy(aws)
    register_model(aws, MODEL, max_batch_size=8)

    task = run_task(aws, "deploy", MODEL)

    assert task["status"] == "failed"
    assert task["error"]["code"] == "smoke_test_failed"
    assert "refused the probe (ModelError)" in task["error"]["message"]
    assert _serving_endpoint() == blue
    assert endpoints_of(aws, MODEL) == {blue: "InService"}


def _run_slow(aws: Any, **fields: Any) -> dict[str, Any]:
    """A deploy whose step backs off (2 s, 4 s, 8 s ... with jitter) between retries: wait longer for it."""
    created = request("deploy", MODEL, **fields)
    assert created.status == 202, created.body
    wait_for(aws, created.body["execution_arn"], timeout=240)
    return dict(read("deploy", created.body["id"]).body)


def test_a_throttled_blue_is_retried_and_the_rollout_ends_true(aws, faults):
    blue = _first_deploy(aws)
    faults.fail(
        "sagemaker-runtime",
        "InvokeEndpoint",
        "ThrottlingException",
        times=2,
        when=lambda params: params.get("EndpointName") == blue,
    )

    task = _run_slow(aws)

    assert task["status"] == "succeeded", task["error"]
    assert task["metadata"]["compatibility"]["mean_cosine"] == 1.0
    # each attempt of the step probes green first: two attempts of the smoke test's 1 and a throttled first
    # batch on blue, then the smoke test's 1, blue's 3 batches and green's 3
    assert faults.calls["InvokeEndpoint"] == 2 * (1 + 1) + 1 + 3 + 3
    assert executed_states(aws, task["execution_arn"]).count("PrepareGreen") == 1  # retried inside
    assert _serving_endpoint() == task["metadata"]["endpoint_name"]
    assert endpoints_of(aws, MODEL) == {task["metadata"]["endpoint_name"]: "InService"}


def test_a_blue_throttled_past_the_retries_fails_the_deploy_and_keeps_blue(aws, faults):
    blue = _first_deploy(aws)
    faults.fail(
        "sagemaker-runtime", "InvokeEndpoint", "ThrottlingException", when=lambda p: p.get("EndpointName") == blue
    )

    task = _run_slow(aws)

    assert task["status"] == "failed"
    assert task["error"]["code"] == "sagemaker_throttled"
    assert f"invoke {blue}" in task["error"]["message"]
    # the state's first attempt and 5 retries, each the smoke test then blue's first batch
    assert faults.calls["InvokeEndpoint"] == 6 * (1 + 1)
    assert task["metadata"]["embedding_dimension"] == 384  # the smoke test's findings outlive the guard's failure
    assert task["metadata"]["green_discarded"] is True
    assert _serving_endpoint() == blue
    assert endpoints_of(aws, MODEL) == {blue: "InService"}


def _tasks_written(aws: Any) -> int:
    table = aws.stack.tables["TasksTable"].name
    return int(aws.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"])


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"min_mean_cosine": 0.4}, "body.min_mean_cosine"),
        ({"min_mean_cosine": 1.5}, "body.min_mean_cosine"),
        ({"min_mean_cosine": "0.9"}, "body.min_mean_cosine"),
        ({"allow_embedding_change": "yes"}, "body.allow_embedding_change"),
        ({"probe_texts": ["one", "two"]}, "body.probe_texts"),
        ({"probe_texts": [f"text {i}" for i in range(129)]}, "body.probe_texts"),
        ({"probe_texts": [f"text {i}" for i in range(15)] + [""]}, "body.probe_texts.15"),
        ({"probe_texts": [f"text {i}" for i in range(15)] + ["   "]}, "body.probe_texts.15"),
        ({"probe_texts": [f"text {i}" for i in range(15)] + ["x" * 513]}, "body.probe_texts.15"),
        ({"probe_texts": [f"text {i}" for i in range(15)] + [7]}, "body.probe_texts.15"),
        ({"probe_texts": ["same"] * 16}, "body.probe_texts"),
        ({"probe_texts": "one text"}, "body.probe_texts"),
        # 26 texts of 480 characters: 12,480 bytes, over the guard's 12,288 but inside the API's 16 KiB body
        ({"probe_texts": [f"{i:03d}" + "x" * 477 for i in range(26)]}, "body.probe_texts"),
    ],
)
def test_bad_guard_fields_are_refused_and_nothing_is_written(aws, fields, location):
    register_model(aws, MODEL)

    response = request("deploy", MODEL, **fields)

    assert 400 <= response.status < 500, response.body
    if response.status == 422:
        assert response.body["code"] == "validation_error"
        assert location in [e["location"] for e in response.body["errors"]], response.body
    assert _tasks_written(aws) == 0
    assert json.dumps(response.body).count("Traceback") == 0
