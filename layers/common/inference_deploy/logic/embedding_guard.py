"""The embedding-compatibility guard: after the smoke test, blue and green embed the same probe texts.

Vector indexes hold blue's vectors; a green whose vectors live in another space (a retrained or swapped
model of the same dimension) would answer every search against them with noise, which the dimension
check cannot see. Below the threshold on the mean cosine the rollout fails `embedding_space_changed`
(the workflow discards green, blue keeps serving) unless the request allowed it: then the task says
the indexes need re-embedding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from aws_lambda_powertools.metrics import MetricUnit

from inference_deploy.adapters.sagemaker import SageMaker
from inference_deploy.adapters.task_store import TaskStore
from inference_deploy.errors import EmbeddingSpaceChanged
from inference_deploy.logic.compatibility import compare, compatibility_metadata
from inference_deploy.logic.embeddings import parse_embeddings
from inference_deploy.models.common import utc_now
from inference_deploy.models.task import DeployMetadata
from inference_deploy.models.workflow import (
    CompatibilityCheck,
    CompatibilityEvent,
    CompatibilityFigures,
)
from inference_deploy.observability import logger, metrics

PROBE_TEXTS_FILE = Path(__file__).resolve().parents[1] / "data" / "probe_texts.json"


@cache
def default_probe_texts() -> tuple[str, ...]:
    texts = json.loads(PROBE_TEXTS_FILE.read_text(encoding="utf-8"))["texts"]
    return tuple(str(text) for text in texts)


def batches(texts: Sequence[str], size: int) -> list[list[str]]:
    return [list(texts[start : start + size]) for start in range(0, len(texts), size)]


def embed_all(
    sagemaker: SageMaker, endpoint_name: str, texts: Sequence[str], batch_size: int, role: str
) -> list[list[float]]:
    """Every text's vector from one endpoint, `batch_size` texts per InvokeEndpoint."""
    vectors: list[list[float]] = []
    for batch in batches(texts, batch_size):
        invocation = sagemaker.invoke(endpoint_name, json.dumps({"inputs": batch}).encode(), role=role)
        vectors.extend(parse_embeddings(invocation.body, expected=len(batch), who=role))
    return vectors


def check_embedding_compatibility(
    event: CompatibilityEvent,
    sagemaker: SageMaker,
    store: TaskStore,
    *,
    batch_size: int,
    findings: DeployMetadata | None = None,
) -> CompatibilityCheck:
    """Compare blue's and green's vectors of the probe texts. Below the threshold and not allowed: the
    figures (with `findings`, what the step found before) are written on the task (the failure's state
    carries no result) and EmbeddingSpaceChanged fails the rollout, whose compensation discards green."""
    plan = event.plan
    if plan is None:  # an execution started before the guard existed
        return CompatibilityCheck(skipped="not_planned", at=utc_now())
    if event.blue is None:
        return CompatibilityCheck(skipped="no_blue", min_mean_cosine=plan.min_mean_cosine, at=utc_now())
    if event.blue.embedding_dimension != event.embedding_dimension:
        # Allowed by the smoke test (allow_dimension_change): no vector compares, every index is rebuilt anyway.
        return CompatibilityCheck(
            skipped="dimension_changed",
            min_mean_cosine=plan.min_mean_cosine,
            reembedding_required=True,
            at=utc_now(),
        )
    texts = plan.probe_texts or default_probe_texts()
    blue = embed_all(sagemaker, event.blue.endpoint_name, texts, batch_size, "blue")
    green = embed_all(sagemaker, event.green.endpoint_name, texts, batch_size, "green")
    invocations = 2 * len(batches(texts, batch_size))
    if len(blue[0]) != len(green[0]):
        # blue's record said otherwise: the endpoint answers another dimension than the record holds
        return CompatibilityCheck(
            skipped="dimension_changed",
            min_mean_cosine=plan.min_mean_cosine,
            reembedding_required=True,
            invocations=invocations,
            at=utc_now(),
        )
    figures = compare(blue, green)
    below = figures.mean_cosine < plan.min_mean_cosine
    metrics.add_metric(name="EmbeddingCompatibilityMeanCosine", unit=MetricUnit.NoUnit, value=figures.mean_cosine)
    logger.info("embedding compatibility", extra={"figures": figures.model_dump(), "below_threshold": below})
    check = CompatibilityCheck(
        figures=figures,
        min_mean_cosine=plan.min_mean_cosine,
        reembedding_required=below and plan.allow_change,
        invocations=invocations,
        at=utc_now(),
    )
    if below and not plan.allow_change:
        store.record_metadata(event.task_id, compatibility_metadata(check, findings))
        raise EmbeddingSpaceChanged(
            f'{_figures_text(figures, plan.min_mean_cosine)}; deploy with "allow_embedding_change": true if '
            "the change is intended (indexes built with blue must then be re-embedded)"
        )
    return check


def _figures_text(figures: CompatibilityFigures, threshold: float) -> str:
    return (
        f"green's vectors of {figures.probe_count} probe texts are not in blue's embedding space: mean cosine "
        f"{figures.mean_cosine:.4f} (5th percentile {figures.p5_cosine:.4f}) is below {threshold}; "
        f"neighbour overlap at 10 {figures.neighbour_overlap_at_10:.4f}, pairwise-similarity Spearman "
        f"{figures.pairwise_similarity_spearman:.4f}"
    )
