"""Smoke tests of the bench's own arithmetic and parsing (the measurements themselves run in `make bench`)."""

from __future__ import annotations

import json
import math
import py_compile
from pathlib import Path

import pytest

from bench import cold_start, deployed, report, rollout
from bench.common import lambda_environment, percentile, rounded, route_event, summarize, tracer_on
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


def test_a_small_price_keeps_its_significant_digits():
    assert rounded({"lambda_arm64_per_gb_second": 0.0000133334}) == {"lambda_arm64_per_gb_second": 1.333e-05}
    assert rounded(0.35449) == 0.3545
    assert rounded(12.34567) == 12.346


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


def test_importtime_tree_follows_the_handlers_own_imports():
    text = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:      4000 |       4000 |       botocore",
            "import time:      1000 |       5000 |     boto3",
            "import time:       500 |       5500 |   inference_deploy.dependencies",
            "import time:      2000 |       2000 |   pydantic",
            "import time:       100 |       7600 | app",
            "import time:      9000 |       9000 | gc",
        ]
    )
    tree = cold_start._importtime_tree(text, "app", levels=2, min_ms=1.0)
    assert tree == {"inference_deploy.dependencies": 5.5, "  boto3": 5.0, "pydantic": 2.0}
    assert cold_start._importtime_tree(text, "missing") == {}


def test_the_runtime_is_boto3_and_the_layer_is_exactly_its_pins():
    runtime = deployed.runtime_distribution_names()
    assert {"boto3", "botocore", "s3transfer", "urllib3"} <= runtime
    pins = deployed.pins()
    assert {"aws-lambda-powertools", "aws-xray-sdk", "pydantic", "pydantic-core"} <= set(pins)
    assert not {"boto3", "botocore", "urllib3", "python-dateutil", "six"} & set(pins)
    names = {deployed.normalize(d.metadata["Name"]) for d in deployed.layer_distributions()}
    assert names == set(pins)


def test_a_build_differs_from_its_sources_by_content(tmp_path):
    sources, built = tmp_path / "src", tmp_path / "build"
    for root in (sources, built):
        (root / "pkg" / "__pycache__").mkdir(parents=True)
        (root / "pkg" / "a.py").write_text("A = 1\n")
        (root / "pkg" / "__pycache__" / "a.cpython-313.pyc").write_bytes(b"ignored")
    assert deployed._differences("layer", deployed.source_files(sources), deployed.source_files(built)) == []
    (sources / "pkg" / "a.py").write_text("A = 2\n")
    (sources / "pkg" / "b.py").write_text("")
    (built / "pkg" / "c.py").write_text("")
    assert deployed._differences("layer", deployed.source_files(sources), deployed.source_files(built)) == [
        "layer: pkg/a.py differs from the build",
        "layer: pkg/b.py is not in the build",
        "layer: pkg/c.py is only in the build",
    ]


def test_bytecode_is_counted_by_invalidation_mode(tmp_path):
    (tmp_path / "a.py").write_text("A = 1\n")
    (tmp_path / "b.py").write_text("B = 1\n")
    (tmp_path / "c.py").write_text("C = 1\n")
    py_compile.compile(str(tmp_path / "a.py"), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    py_compile.compile(str(tmp_path / "b.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    counts = deployed.pyc_kinds(tmp_path)
    assert counts["pyc"] == counts["this_python"] == 2
    assert (counts["unchecked_hash"], counts["timestamp"], counts["py_without_pyc"]) == (1, 1, 1)


def test_native_code_is_told_apart_by_its_elf_machine(tmp_path):
    assert deployed.host_machine() in (62, 183)  # x86-64, arm64
    (tmp_path / "not_elf.so").write_bytes(b"not an ELF file at all")
    assert deployed.elf_machine(tmp_path / "not_elf.so") is None


def _child(botocore: str, *, patched: list[str] | None, layer_pyc: int) -> dict:
    function, layer, runtime = "/s/fn", "/s/layer", "/s/runtime"
    origins = {
        "app": f"{function}/app.py",
        "pydantic": f"{layer}/pydantic/__init__.py",
        "botocore": f"{botocore}/botocore/__init__.py",
    }
    if patched is not None:  # the X-Ray SDK was imported
        origins["aws_xray_sdk"] = f"{layer}/aws_xray_sdk/__init__.py"
    return {
        "origins": origins,
        "xray_patched": patched,
        "bytecode": {
            function: {"modules": 1, "with_pyc": 0},
            layer: {"modules": 10, "with_pyc": layer_pyc},
            runtime: {"modules": 5, "with_pyc": 5},
        },
    }


def test_a_cold_start_that_does_not_look_like_lambda_is_caught():
    paths = ["/s/fn", "/s/layer", "/s/runtime"]
    service, nopyc = cold_start.VARIANTS[1], cold_start.VARIANTS[2]

    def checks(variant, child, *, tracer=True):
        return cold_start._checks(variant, paths, "app", child, tracer=tracer)

    good = checks(service, _child("/s/runtime", patched=["botocore"], layer_pyc=10))
    assert good["problems"] == []
    assert good["origins"] == {"app": "function", "pydantic": "layer", "botocore": "runtime", "aws_xray_sdk": "layer"}
    assert checks(nopyc, _child("/s/runtime", patched=["botocore"], layer_pyc=0))["problems"] == []
    assert checks(service, _child("/s/runtime", patched=None, layer_pyc=10), tracer=False)["problems"] == []
    bad = checks(service, _child("/s/layer", patched=[], layer_pyc=3))["problems"]
    assert "botocore from the layer, not the runtime" in bad
    assert any("X-Ray did not patch botocore" in problem for problem in bad)
    assert any("3 of 10 layer modules had .pyc" in problem for problem in bad)
    untraced = checks(service, _child("/s/runtime", patched=["botocore"], layer_pyc=10), tracer=False)
    assert untraced["problems"] == ["the X-Ray SDK was imported with the Tracer off"]
    leaked = checks(service, _child("/venv/site-packages", patched=["botocore"], layer_pyc=10))
    assert any(problem.startswith("botocore from elsewhere") for problem in leaked["problems"])


def test_the_bench_runs_the_tracer_as_the_template_says_unless_a_variant_forces_it():
    def env(stack, tracing):
        return lambda_environment(
            stack, function="f", code_dir=Path("/s/fn"), memory_mb=512, xray_daemon="127.0.0.1:2000", tracing=tracing
        )

    api_function = {"TRACER_SUBSEGMENTS": "false", "TASKS_TABLE_NAME": "t"}
    assert not tracer_on(env(api_function, None))
    assert tracer_on(env(api_function, True))
    assert not tracer_on(env({}, False))
    assert tracer_on(env({}, None))


def test_only_the_service_as_deployed_is_held_to_the_limits():
    cold = {
        "routes": {
            "get": {
                "route": "GET",
                "median": {
                    "baseline": {"ratio_total": 1.0},
                    "service": {"ratio_total": 1.5},
                    "service_nopyc": {"ratio_total": 3.0},
                },
            }
        }
    }
    assert report.poor_ratios({"cold_start": cold}) == ["cold start GET / service: 1.50x"]


def _task(kind: str, rounds: int, transitions: int) -> dict:
    totals = dict.fromkeys(rollout.METRICS, 1.0)
    totals["state_transitions"] = transitions
    return {
        "kind": kind,
        "poll_rounds": rounds,
        "totals": totals,
        "poll_round_gb_seconds": {"lambda_gb_seconds_measured": 0.001, "lambda_gb_seconds_assumed": 0.016},
    }


def test_rollout_costs_are_fitted_per_fallback_round_and_priced_at_each_creation_time():
    measured = {
        "green_event_wait_seconds": 300,
        "tasks": [
            _task("first_deploy", 0, 10),
            _task("first_deploy", 2, 12),
            _task("redeploy", 0, 12),
            _task("redeploy", 1, 13),
            _task("delete", 1, 10),
        ],
    }
    priced = rollout.price(measured)
    redeploy = priced["formulas"]["redeploy"]
    assert redeploy["formula"]["state_transitions"] == {"fixed": 12.0, "per_round": 1.0}
    by_minutes = redeploy["by_creation_minutes"]
    assert [by_minutes[m]["rounds"] for m in ("1", "5", "10")] == [0, 1, 2]  # creation // 300 s
    assert by_minutes["10"]["counts"]["state_transitions"] == 14.0
    assert by_minutes["10"]["usd_per_1000"]["step_functions"] == pytest.approx(0.35)
    old = redeploy["old_poll_loop_by_creation_minutes"]["10"]["counts"]
    assert old["state_transitions"] == 12.0 + 3 * 20  # a 30 s poll round is 3 transitions
    assert priced["delete"]["usd_per_1000"]["step_functions"] == pytest.approx(0.25)


def test_a_rollout_is_priced_all_in_and_a_bake_adds_the_same_whatever_its_length():
    extras = {
        "invocation_memory_mb": [512] * 10,
        "task_events": 12,
        "tasks_table_writes": 20,
        "publisher_invocations": 10,
        "event_invocations": 1,
        "cloudwatch_calls": 0,
        "bake_alarm_hours": {"metric": 0, "composite": 0},
    }
    baked_extras = {  # the default bake: no alarm, green's two metrics read at its end
        **extras,
        "invocation_memory_mb": [512] * 12,
        "cloudwatch_calls": 0,
        "cloudwatch_metrics_requested": 2,
    }
    watched_extras = {  # green_alarms and rollback_alarms: two metric alarms and the composite
        **extras,
        "invocation_memory_mb": [512] * 13,
        "cloudwatch_calls": 5,
        "cloudwatch_metrics_requested": 2,
        "bake_alarm_hours": {"metric": 2, "composite": 1},
    }
    measured = {
        "green_event_wait_seconds": 900,
        "tasks": [
            {**_task("first_deploy", 0, 10), "all_in": extras},
            _task("first_deploy", 1, 11),
            {**_task("redeploy", 0, 12), "all_in": extras},
            _task("redeploy", 1, 13),
            {**_task("redeploy_baked", 0, 15), "all_in": baked_extras},
            {**_task("redeploy_baked_green_alarms", 0, 17), "all_in": watched_extras},
        ],
    }
    priced = rollout.price(measured)
    plain = priced["all_in_by_creation_minutes"]["redeploy"]["10"]["usd_per_1000"]
    baked = priced["all_in_by_creation_minutes"]["redeploy_baked"]["10"]["usd_per_1000"]
    assert plain["lambda_init"] == pytest.approx(10 * 0.8 * 0.5 * 0.0000133334 * 1000)
    assert plain["task_events_put_events"] == pytest.approx(12 / 1000)
    assert plain["xray"] == pytest.approx((3 + 1 + 10) * 5 / 1000)
    untraced = rollout.all_in(dict.fromkeys(rollout.METRICS, 1.0), {**extras, "publisher_traced": False})[
        "usd_per_1000"
    ]
    assert untraced["xray"] == pytest.approx((3 + 1) * 5 / 1000), "a publisher not traced records no trace"
    assert plain["task_events_publisher"] == pytest.approx(
        (2 * 0.8 + 10 * 0.06) * 0.5 * 0.0000133334 * 1000 + 10 * 0.2 / 1000
    )
    assert plain["cloudwatch_alarms"] == 0
    assert baked["cloudwatch_alarms"] == 0
    assert baked["cloudwatch_api"] == pytest.approx(2 * 0.01), "GetMetricData is priced per metric requested"
    watched = priced["all_in_by_creation_minutes"]["redeploy_baked_green_alarms"]["10"]["usd_per_1000"]
    assert watched["cloudwatch_alarms"] == pytest.approx(1000 * (2 * 0.10 + 0.50) / 730)
    assert watched["cloudwatch_api"] == pytest.approx((5 + 2) * 0.01)
    watched_adds = priced["bake_with_green_alarms_adds_usd_per_1000"]["10"]
    assert watched_adds["alarms"] == watched["cloudwatch_alarms"]
    assert plain["total"] == pytest.approx(sum(v for k, v in plain.items() if k != "total"))
    adds = priced["bake_adds_usd_per_1000"]["10"]
    assert adds["workflow"] == pytest.approx(baked["total"] - baked["cloudwatch_alarms"] - plain["total"], abs=1e-6)
    assert adds["alarms"] == baked["cloudwatch_alarms"]
    assert adds["alarms_prorated"] == pytest.approx(baked["cloudwatch_alarms"] / 6, abs=1e-6), "a 10-minute bake"
    assert priced["bake_adds_usd_per_1000"]["1"] == adds, "no fallback rounds at 1 or 10 minutes: the same"


def test_only_the_green_waits_count_as_fallback_rounds_not_the_bakes_wait():
    def entered(name: str) -> dict:
        return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}

    scheduled = {"type": "TaskScheduled", "taskScheduledEventDetails": {"resource": "invoke.waitForTaskToken"}}
    events = [entered("AwaitGreen"), scheduled, {"type": "TaskTimedOut"}, scheduled, entered("AwaitBake"), scheduled]
    assert rollout._green_waits(events) == 2


def test_billed_transitions_count_retries_of_a_state():
    def entered(name: str) -> dict:
        return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}}

    events = [
        entered("ProvisionGreen"),
        {"type": "LambdaFunctionScheduled"},
        entered("AwaitGreen"),
        {"type": "TaskScheduled"},
        {"type": "TaskTimedOut"},
        {"type": "TaskScheduled"},  # the States.Timeout retry: billed as a transition
        {"type": "TaskScheduled"},
        entered("PrepareGreen"),
        {"type": "LambdaFunctionScheduled"},
    ]
    assert rollout._transitions(events) == 3 + 2


def test_the_rollout_report_shows_each_creation_time_and_the_switch_delay():
    measured = {
        "green_event_wait_seconds": 300,
        "tasks": [
            {**_task("first_deploy", 0, 10), "in_service_to_switch_s": 0.5},
            _task("first_deploy", 1, 11),
            {**_task("redeploy", 0, 12), "in_service_to_switch_s": 1.5},
            _task("redeploy", 1, 13),
        ],
    }
    text = report._rollout({**rollout.price(measured), "assumed_call_ms": 30})
    assert "redeploy @ 10 min creation, 2 fallback rounds" in text
    assert "redeploy @ 10 min creation, old 30 s poll loop" in text
    assert "median 1.00 s" in text


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


def test_the_embedding_guard_is_priced_from_the_redeploys_it_ran_in():
    verify_run = {
        "function": "PrepareGreenFunction",
        "ms": 900.0,  # the emulated model's work included: not what is priced
        "aws_calls": 9,
        "calls": {"sagemaker-runtime.InvokeEndpoint": 7, "dynamodb.GetItem": 1, "dynamodb.UpdateItem": 1},
    }
    redeploy = {
        **_task("redeploy", 0, 20),
        "states_entered": ["AwaitGreen", "PrepareGreen", "SwitchTraffic"],
        "invocations": [{"function": "CheckGreenFunction", "ms": 5.0, "aws_calls": 3}, verify_run],
    }
    measured = {
        "green_event_wait_seconds": 300,
        "memory_mb": {"PrepareGreenFunction": 512},
        "guard_math_ms": 40.0,
        "probe_texts": 80,
        "tasks": [_task("first_deploy", 0, 10), _task("first_deploy", 1, 11), redeploy, _task("redeploy", 1, 21)],
    }
    guard = rollout.price(measured)["embedding_guard"]
    counts = guard["counts"]
    # the guard shares PrepareGreen (its state, invocation and progress write) with the smoke test
    assert counts["state_transitions"] == counts["lambda_invocations"] == counts["other_aws_calls"] == 0
    assert counts["invoke_endpoint_calls"] == 6  # the smoke test's one is not the guard's
    assert counts["lambda_ms_assumed"] == 40.0 + 6 * rollout.ASSUMED_INVOKE_MS
    assert guard["usd_per_1000"]["step_functions"] == 0
    assert "What the embedding-compatibility guard adds" in report._rollout(
        {**rollout.price(measured), "assumed_call_ms": 30}
    )
