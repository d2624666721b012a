"""The API functions' cold-start settings in template.yaml: SnapStart behind the alias the API invokes,
off unless asked, and the X-Ray SDK left out of them unless their subsegments are asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml

from local_stack import load_template, plan_stack

ROOT = Path(__file__).resolve().parents[2]
RAW = load_yaml(ROOT / "template.yaml")
API_FUNCTIONS = ("CreateTaskFunction", "ReadTaskFunction", "CancelTaskFunction")


def _functions(**parameters: str) -> dict[str, dict[str, str]]:
    stack = plan_stack(load_template(ROOT / "template.yaml"), parameters=parameters)
    return {logical_id: dict(function.environment) for logical_id, function in stack.functions.items()}


@pytest.mark.parametrize("logical_id", API_FUNCTIONS)
def test_the_api_invokes_a_published_alias_that_snapstart_can_apply_to(logical_id):
    properties = RAW["Resources"][logical_id]["Properties"]

    # SAM points the function's Api events (integration URI and invoke permission) at this alias.
    assert properties["AutoPublishAlias"] == "live"
    assert properties["SnapStart"]["ApplyOn"] == {"Fn::If": ["SnapStart", "PublishedVersions", "None"]}
    assert RAW["Conditions"]["SnapStart"] == {"Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]}
    assert RAW["Parameters"]["EnableSnapStart"]["Default"] == "false"


def test_only_the_api_functions_leave_out_the_xray_sdk_by_default():
    functions = _functions()

    for logical_id, environment in functions.items():
        expected = "false" if logical_id in API_FUNCTIONS else None
        assert environment.get("TRACER_SUBSEGMENTS") == expected, logical_id
        # Powertools' own switch stays the process's: the local stack and the tests turn tracing off with it.
        assert "POWERTOOLS_TRACE_DISABLED" not in environment, logical_id


def test_the_api_functions_trace_aws_calls_when_asked():
    functions = _functions(ApiTracerSubsegments="true")

    assert {functions[logical_id]["TRACER_SUBSEGMENTS"] for logical_id in API_FUNCTIONS} == {"true"}
