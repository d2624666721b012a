"""Every SDK call, retries included, ends inside the Lambda that makes it: a call still waiting when
Lambda kills the function loses its answer and the step's chance to report a retryable error."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.config import Config
from cfnlint.decode.cfn_yaml import load as load_yaml

from inference_deploy.adapters import aws
from inference_deploy.logic.embedding_guard import default_probe_texts

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_yaml(ROOT / "template.yaml")
MAX_BACKOFF = 20  # botocore's standard retry mode: attempt i waits at most min(2**i, 20) s
INVOKE_ENDPOINT_LIMIT = 60  # SageMaker answers InvokeEndpoint within 60 s or fails it


def worst_case_seconds(config: Config) -> float:
    # `total_max_attempts` counts the first attempt; botocore's `max_attempts` would count only retries.
    attempts = config.retries["total_max_attempts"]
    waiting = attempts * (config.connect_timeout + config.read_timeout)
    backoff = sum(min(2**i, MAX_BACKOFF) for i in range(attempts - 1))
    return waiting + backoff


def _functions() -> dict[str, int]:
    default = TEMPLATE["Globals"]["Function"]["Timeout"]
    return {
        name: resource["Properties"].get("Timeout", default)
        for name, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


@pytest.mark.parametrize(("name", "timeout"), sorted(_functions().items()))
def test_a_control_plane_call_and_its_retries_end_inside_the_lambda_timeout(name, timeout):
    assert worst_case_seconds(aws.CONTROL_CONFIG) < timeout, f"{name}: Timeout {timeout} s"


def test_green_s_verification_waits_for_every_invoke_endpoint_and_still_ends_inside_its_timeout():
    # The smoke test's one call, then blue's and green's batches of the default probe texts.
    batch_size = int(TEMPLATE["Parameters"]["EmbeddingProbeBatchSize"]["Default"])
    calls = 1 + 2 * -(-len(default_probe_texts()) // batch_size)
    assert aws.RUNTIME_CONFIG.read_timeout > INVOKE_ENDPOINT_LIMIT
    assert calls * worst_case_seconds(aws.RUNTIME_CONFIG) < _functions()["PrepareGreenFunction"]


def test_the_budget_counts_retries_and_backoff():
    config = Config(connect_timeout=3, read_timeout=10, retries={"total_max_attempts": 4})
    assert worst_case_seconds(config) == 4 * 13 + 7
