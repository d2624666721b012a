"""events/local-env.json (`sam local --env-vars`) and the local run's template parameters, from template.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_stack import load_template, plan_stack
from local_stack.__main__ import main
from local_stack.run_config import RUN_PARAMETERS, run_parameters
from local_stack.sam_env import render, sam_env_vars

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FIXTURE_TEMPLATE = ROOT / "tests" / "fixtures" / "local_stack" / "template.yaml"
COMMITTED = ROOT / "events" / "local-env.json"
REGENERATE = ".venv/bin/python -m local_stack env-vars > events/local-env.json"


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
        assert document[logical_id] == dict(function.environment)
        assert all(isinstance(value, str) for value in document[logical_id].values())


def test_the_endpoint_can_be_pointed_elsewhere() -> None:
    document = sam_env_vars(load_template(FIXTURE_TEMPLATE), endpoint_url="http://172.17.0.1:5001")

    assert document["Parameters"] == {"AWS_ENDPOINT_URL": "http://172.17.0.1:5001"}
    assert document["EchoFunction"]["ITEMS_TABLE_NAME"] == "ItemsTable"


def test_run_parameters_are_passed_only_when_the_template_declares_them() -> None:
    real = load_template(TEMPLATE)
    fixture = load_template(FIXTURE_TEMPLATE)

    assert run_parameters(fixture) == {}
    assert run_parameters(fixture, {"Stage": "prod"}) == {"Stage": "prod"}
    assert run_parameters(real) == {name: value for name, value in RUN_PARAMETERS.items() if name in real.parameters}
    assert run_parameters(real, {"GreenPollSeconds": "2"}).get("GreenPollSeconds", "2") == "2"
