"""events/local-env.json (`sam local --env-vars`) and the local run's template parameters, from template.yaml.

Safety: `sam local` must never let a function reach a real AWS account. SAM CLI 1.170 gives a container
the variables the function declares in the template (Globals + its own), each overridden by the env-vars
file's function section, else its `Parameters`, else the shell, else the template's value
(samcli/commands/local/lib/local_lambda.py `_make_env_vars`, samcli/local/lambdafn/env_vars.py `resolve`);
variables a function does not declare are never overridden. `sam_local_environment` below is that rule.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml

from local_stack import load_template, plan_stack
from local_stack.__main__ import main
from local_stack.run_config import RUN_PARAMETERS, run_parameters
from local_stack.sam_env import SAM_LOCAL_VARIABLES, UnsafeFunctionError, render, sam_env_vars

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FIXTURE_TEMPLATE = ROOT / "tests" / "fixtures" / "local_stack" / "template.yaml"
COMMITTED = ROOT / "events" / "local-env.json"
REGENERATE = ".venv/bin/python -m local_stack env-vars > events/local-env.json"
SAM_LOCAL = ROOT / "scripts" / "sam-local"
RAW_TEMPLATE = load_yaml(TEMPLATE)
FUNCTIONS = sorted(
    logical_id
    for logical_id, resource in RAW_TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
)


def declared_variables(logical_id: str) -> dict[str, Any]:
    """The variables a function declares in template.yaml: Globals, then its own."""
    variables = dict(RAW_TEMPLATE["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    function = RAW_TEMPLATE["Resources"][logical_id]["Properties"]
    variables.update(function.get("Environment", {}).get("Variables", {}))
    return variables


def sam_local_environment(
    declared: Mapping[str, Any],
    env_vars_file: Mapping[str, Mapping[str, str]],
    logical_id: str,
    shell: Mapping[str, str],
) -> dict[str, str]:
    """SAM CLI's resolution of a function's declared variables (see the module docstring)."""
    overrides = {**env_vars_file.get("Parameters", {}), **env_vars_file.get(logical_id, {})}
    return {
        name: str(overrides[name] if name in overrides else shell.get(name, default))
        for name, default in declared.items()
    }


def test_the_committed_env_vars_file_is_what_the_command_generates() -> None:
    generated = render(sam_env_vars(load_template(TEMPLATE)))

    assert COMMITTED.read_text() == generated, f"events/local-env.json is stale: regenerate it with `{REGENERATE}`"


def test_the_command_prints_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env-vars", "--template", str(TEMPLATE)]) == 0

    assert capsys.readouterr().out == render(sam_env_vars(load_template(TEMPLATE)))


def test_every_function_gets_its_resolved_variables_and_all_get_the_local_endpoint() -> None:
    template = load_template(TEMPLATE)
    document = json.loads(COMMITTED.read_text())
    stack = plan_stack(template, parameters=run_parameters(template))

    assert document["Parameters"] == {"AWS_ENDPOINT_URL": "http://host.docker.internal:5000"}
    assert set(document) == {"Parameters", *template.functions}
    for logical_id, function in stack.functions.items():
        expected = {k: v for k, v in function.environment.items() if k != "AWS_ENDPOINT_URL"}
        expected.update({k: v for k, v in SAM_LOCAL_VARIABLES.items() if k in expected})
        assert document[logical_id] == expected
        assert all(isinstance(value, str) for value in document[logical_id].values())


def test_the_endpoint_can_be_pointed_elsewhere() -> None:
    document = sam_env_vars(load_template(TEMPLATE), endpoint_url="http://172.17.0.1:5001")

    assert document["Parameters"] == {"AWS_ENDPOINT_URL": "http://172.17.0.1:5001"}
    assert document["ReadTaskFunction"]["TASKS_TABLE_NAME"] == "TasksTable"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_sam_local_points_every_function_at_the_local_stack_whatever_the_shell_says(logical_id: str) -> None:
    document = json.loads(COMMITTED.read_text())
    shell = {"AWS_ENDPOINT_URL": "https://sagemaker.us-east-1.amazonaws.com"}

    environment = sam_local_environment(declared_variables(logical_id), document, logical_id, shell)

    assert environment.get("AWS_ENDPOINT_URL") == "http://host.docker.internal:5000"
    assert not [name for name in environment if name.startswith("AWS_ENDPOINT_URL_")]
    assert "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" not in environment


def test_deployed_functions_keep_the_real_endpoints() -> None:
    """The declaration is empty, which botocore ignores: in AWS the functions call the regional endpoints."""
    for logical_id in FUNCTIONS:
        assert declared_variables(logical_id)["AWS_ENDPOINT_URL"] == ""


def test_functions_and_layer_deploy_for_arm64_unless_told_otherwise() -> None:
    """`make sam-local` overrides FunctionArchitecture with the host's; a deployment keeps the default."""
    assert RAW_TEMPLATE["Parameters"]["FunctionArchitecture"]["Default"] == "arm64"
    assert RAW_TEMPLATE["Globals"]["Function"]["Architectures"] == [{"Ref": "FunctionArchitecture"}]
    layer = RAW_TEMPLATE["Resources"]["CommonLayer"]
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "FunctionArchitecture"}]
    for logical_id in FUNCTIONS:
        assert "Architectures" not in RAW_TEMPLATE["Resources"][logical_id]["Properties"], logical_id


def test_no_function_section_of_the_file_can_undo_the_endpoint() -> None:
    document = json.loads(COMMITTED.read_text())

    for logical_id in FUNCTIONS:
        assert "AWS_ENDPOINT_URL" not in document[logical_id], f"{logical_id}'s section beats Parameters"


def _fixture_copy(tmp_path: Path, variables: str) -> Path:
    root = tmp_path / "stack"
    shutil.copytree(FIXTURE_TEMPLATE.parent, root)
    template = root / "template.yaml"
    text = template.read_text()
    marker = "        STAGE: !Ref Stage\n"
    assert marker in text
    template.write_text(text.replace(marker, marker + variables))
    return template


def test_a_function_that_does_not_declare_the_endpoint_is_refused() -> None:
    with pytest.raises(UnsafeFunctionError, match="does not declare AWS_ENDPOINT_URL"):
        sam_env_vars(load_template(FIXTURE_TEMPLATE))


def test_a_function_with_a_service_endpoint_of_its_own_is_refused(tmp_path: Path) -> None:
    variables = (
        '        AWS_ENDPOINT_URL: ""\n        AWS_ENDPOINT_URL_DYNAMODB: https://dynamodb.us-east-1.amazonaws.com\n'
    )
    template = _fixture_copy(tmp_path, variables)

    with pytest.raises(UnsafeFunctionError, match="AWS_ENDPOINT_URL_DYNAMODB"):
        sam_env_vars(load_template(template))


def test_a_declared_endpoint_is_forced_in_parameters_only(tmp_path: Path) -> None:
    template = _fixture_copy(tmp_path, '        AWS_ENDPOINT_URL: ""\n')

    document = sam_env_vars(load_template(template), endpoint_url="http://host.docker.internal:5001")

    assert document["Parameters"] == {"AWS_ENDPOINT_URL": "http://host.docker.internal:5001"}
    assert document["EchoFunction"]["ITEMS_TABLE_NAME"] == "ItemsTable"
    assert "AWS_ENDPOINT_URL" not in document["EchoFunction"]


@pytest.mark.slow
def test_make_sam_local_hands_sam_dummy_credentials_and_the_local_endpoint(tmp_path: Path) -> None:
    """scripts/sam-local with a stand-in `sam` that records what it was given, from a shell with real credentials."""
    record = tmp_path / "calls.jsonl"
    fake_sam = tmp_path / "sam"
    call = "json.dumps({'args': sys.argv[1:], 'env': dict(os.environ)})"
    fake_sam.write_text(
        f"#!/usr/bin/env python3\nimport json, os, sys\nwith open({str(record)!r}, 'a') as f: f.write({call} + '\\n')\n"
    )
    fake_sam.chmod(0o755)
    shell = {
        **os.environ,
        "AWS_PROFILE": "production",
        "AWS_ACCESS_KEY_ID": "AKIAREALKEY",
        "AWS_SECRET_ACCESS_KEY": "real-secret",
        "AWS_SESSION_TOKEN": "real-token",
        "AWS_ENDPOINT_URL": "https://real.example",
        "SAM_CLI": str(fake_sam),
        "SAM_LOCAL_DIR": str(tmp_path / "out"),
        "SAM_PULL": "never",
        "AWS_PORT": "5099",
        "SAM_PORT": "3099",
    }

    completed = subprocess.run([str(SAM_LOCAL)], check=False, env=shell, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr

    build, start = [json.loads(line) for line in record.read_text().splitlines()]
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    assert build["args"][0] == "build"
    assert build["env"]["LAMBDA_ARCHITECTURE"] == arch
    assert start["args"][:2] == ["local", "start-api"]
    for call in (build, start):
        env = call["env"]
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("testing", "testing")
        assert "AWS_PROFILE" not in env
        assert "AWS_SESSION_TOKEN" not in env
        assert env["AWS_SHARED_CREDENTIALS_FILE"] == env["AWS_CONFIG_FILE"] == "/dev/null"
        assert f"FunctionArchitecture={arch}" in call["args"]
    args = start["args"]
    assert {"--skip-pull-image", "--add-host", "host.docker.internal:host-gateway"} <= set(args)
    assert args[args.index("--port") + 1] == "3099"
    env_vars = json.loads(Path(args[args.index("--env-vars") + 1]).read_text())
    assert env_vars["Parameters"] == {"AWS_ENDPOINT_URL": "http://host.docker.internal:5099"}


def test_run_parameters_are_passed_only_when_the_template_declares_them() -> None:
    real = load_template(TEMPLATE)
    fixture = load_template(FIXTURE_TEMPLATE)

    assert run_parameters(fixture) == {}
    assert run_parameters(fixture, {"Stage": "prod"}) == {"Stage": "prod"}
    assert run_parameters(real) == {name: value for name, value in RUN_PARAMETERS.items() if name in real.parameters}
    assert run_parameters(real, {"GreenPollSeconds": "2"}).get("GreenPollSeconds", "2") == "2"
