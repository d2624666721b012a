"""The layer leaves out what layers/common/prune.txt lists, and no function needs any of it.

The layer is staged as layers/common/Makefile builds it (the pinned distributions without dependencies,
inference_deploy, then the prune list), from the venv's installs of the same versions; each check runs
tests/unit/pruned_layer_child.py in a fresh `python -S` whose sys.path is only a function, that layer and
boto3's closure, as in Lambda."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import cold_start, deployed

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("pruned_layer_child.py")
FUNCTIONS = sorted(path.parent for path in (ROOT / "functions").glob("*/app.py"))
# The API functions first: the child serves their requests, then imports the workflow steps.
ORDERED = sorted(FUNCTIONS, key=lambda path: path.name not in ("create_task", "read_task"))


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pruned-layer")
    layer, runtime = root / "layer" / "python", root / "runtime"
    cold_start.stage_layer_like_the_makefile(layer, compile_bytecode=False)
    cold_start.stage_runtime(runtime)
    return layer, runtime


def _environment() -> dict[str, str]:
    """A Lambda function's: the stack's names, tracing on (the Tracer builds and patches botocore)."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_LAMBDA_FUNCTION_NAME": "pruned-layer",
            "LAMBDA_TASK_ROOT": str(FUNCTIONS[0]),
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "POWERTOOLS_SERVICE_NAME": "inference-deployment-tasks",
            "POWERTOOLS_METRICS_NAMESPACE": "InferenceDeployment",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "IDEMPOTENCY_TABLE_NAME": "idempotency",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def _run(layer: Path, runtime: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-S", str(CHILD), str(layer), str(runtime), str(ROOT / "events"), *map(str, ORDERED)],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _report(completed: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert completed.returncode == 0, completed.stderr[-3000:]
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def test_the_pruned_paths_are_gone_from_the_staged_layer(staged):
    layer, _ = staged
    patterns = deployed.prune_patterns()
    assert "pydantic/v1" in patterns
    assert not [pattern for pattern in patterns if list(layer.glob(pattern))]
    assert (layer / "pydantic" / "main.py").is_file()  # what is used stays


@pytest.mark.slow
def test_every_function_runs_from_the_pruned_layer_alone(staged):
    layer, runtime = staged
    report = _report(_run(layer, runtime))

    assert report["statuses"]["create_invalid"] == 422
    assert report["statuses"]["create_not_json"] == 400
    assert report["statuses"]["read_no_route"] == 404
    assert len(report["statuses"]["steps_refused"]) == len(FUNCTIONS) - 2
    assert report["statuses"]["idempotent_work_ran"] is True
    assert report["xray_patched"] == ["botocore"]
    layer_packages = {"aws_lambda_powertools", "aws_xray_sdk", "pydantic", "pydantic_core", "inference_deploy"}
    for name in layer_packages | {"aws_lambda_powertools.utilities.idempotency", "aws_xray_sdk.ext.botocore"}:
        assert report["modules"][name].startswith(f"{layer}/"), name
    assert report["modules"]["botocore"].startswith(f"{runtime}/")


@pytest.mark.slow
def test_a_pruned_module_a_function_needs_fails_the_check(staged, tmp_path):
    layer, runtime = staged
    broken = tmp_path / "python"
    shutil.copytree(layer, broken, symlinks=True)
    deployed.prune(broken, ["aws_xray_sdk/ext/botocore"])

    completed = _run(broken, runtime)

    assert completed.returncode != 0
    assert "aws_xray_sdk.ext.botocore" in completed.stderr
