"""Smoke tests of the bench's own arithmetic and parsing (the measurements themselves run in `make bench`)."""

from __future__ import annotations

import json
import math

import pytest

from bench import cold_start, report, rollout
from bench.common import percentile, rounded, route_event, summarize
from bench.dynamo_size import item_size, read_units, write_units
from bench.sizes import SIZES


def test_percentiles_are_nearest_rank():
    samples = [float(v) for v in range(1, 101)]
    assert percentile(samples, 0.50) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert summarize([3.0, 1.0, 2.0])["p50"] == 2.0
    assert summarize([]) == {"n": 0}


def test_nan_becomes_null_in_the_results():
    assert rounded({"a": [math.nan, 1.23456]}) == {"a": [None, 1.235]}


def test_item_size_follows_dynamodbs_rules():
    item = {
        "id": {"S": "deploy-1"},  # 2 + 8
        "n": {"N": "12345"},  # 1 + 3 + 1
        "ok": {"BOOL": True},  # 2 + 1
        "m": {"M": {"k": {"S": "vv"}}},  # 1 + 3 + (1 + 1 + 2)
    }
    assert item_size(item) == 10 + 5 + 3 + 8
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(100, transactional=True) == 2
    assert read_units(5000, consistent=False) == 1.0
    assert read_units(100, consistent=True) == 1.0


def test_events_are_the_sample_events_pointed_at_a_task_or_model():
    get = route_event("get", task_id="deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3")
    assert get["pathParameters"] == {"task_id": "deploy-01HYG7Q8W3K5M2N4P6R8S0T1V3"}
    assert json.loads(route_event("create", model="m-1")["body"]) == {"embedding_model_id": "m-1"}
    with pytest.raises(ValueError, match="task id"):
        route_event("get")


def test_importtime_output_is_grouped_by_top_level_package():
    text = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:      1000 |       1000 |     botocore.utils",
            "import time:      2000 |       3000 |   botocore",
            "import time:       500 |       3500 | app",
        ]
    )
    grouped = cold_start._importtime_by_package(text)
    assert grouped["botocore"] == 3.0
    assert grouped["app"] == 0.5
    assert grouped["(total)"] == 3.5


def test_the_layer_closure_includes_what_the_tracer_extra_pulls_in():
    names = {cold_start._normalize(d.metadata["Name"]) for d in cold_start.closure(["aws-lambda-powertools[tracer]"])}
    assert {"aws-lambda-powertools", "aws-xray-sdk", "botocore", "wrapt"} <= names
    assert "boto3" not in names


def _task(kind: str, rounds: int, transitions: int) -> dict:
    totals = dict.fromkeys(rollout.METRICS, 1.0)
    totals["state_transitions"] = transitions
    return {
        "kind": kind,
        "poll_rounds": rounds,
        "totals": totals,
        "poll_round_gb_seconds": {"lambda_gb_seconds_measured": 0.001, "lambda_gb_seconds_assumed": 0.016},
    }


def test_rollout_costs_are_fitted_per_poll_round_and_priced():
    measured = {
        "tasks": [
            _task("first_deploy", 1, 11),
            _task("first_deploy", 3, 17),
            _task("redeploy", 1, 13),
            _task("redeploy", 4, 22),
            _task("delete", 1, 10),
        ]
    }
    priced = rollout.price(measured)
    redeploy = priced["formulas"]["redeploy"]
    assert redeploy["formula"]["state_transitions"] == {"fixed": 10.0, "per_round": 3.0}
    assert redeploy["at_20_rounds"]["counts"]["state_transitions"] == 70.0
    assert redeploy["at_20_rounds"]["usd_per_1000"]["step_functions"] == pytest.approx(1.75)
    assert priced["delete"]["usd_per_1000"]["step_functions"] == pytest.approx(0.25)


def test_the_report_renders_what_a_run_produced():
    results = {
        "size": SIZES["small"].as_json(),
        "machine": report.machine(),
        "sections": {"package_weight": {"skipped": "no build"}, "local_e2e": {"error": "boom"}},
        "section_seconds": {"package_weight": 0.1},
        "poor_ratios": [],
    }
    text = report.render(results)
    assert "package_weight: skipped" in text
    assert "local_e2e: FAILED" in text
