import json
from pathlib import Path

import pytest
from cfnlint.decode.cfn_yaml import load as load_yaml
from openapi_spec_validator import validate

from scripts.gen_openapi import GATEWAY_RESPONSES, build

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_json_matches_the_routes():
    """Fails when a route changes without `make openapi`."""
    assert json.loads((ROOT / "openapi.json").read_text()) == build()


def test_every_route_documents_problem_bodies_for_its_errors():
    document = build()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert "application/problem+json" in response["content"], f"{method} {path} {status}"


DOCUMENT = build()
OPERATIONS = [
    (method, path, operation)
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
]


def test_the_document_is_valid_openapi():
    validate(DOCUMENT)


@pytest.mark.parametrize(("method", "path", "operation"), [o for o in OPERATIONS if o[0] == "get"])
def test_every_read_declares_its_200_body(method, path, operation):
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]

    expected = "TaskPage" if path.endswith("/tasks") else "ServingRecord" if "/models/" in path else "Task"
    assert schema == {"$ref": f"#/components/schemas/{expected}"}
    assert expected in DOCUMENT["components"]["schemas"]


@pytest.mark.parametrize(("method", "path", "operation"), [o for o in OPERATIONS if o[0] == "post"])
def test_an_accepted_task_declares_its_location(method, path, operation):
    accepted = operation["responses"]["202"]

    assert accepted["headers"]["Location"]["required"] is True
    assert accepted["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Task"}


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS)
def test_retryable_answers_declare_retry_after_and_every_problem_lists_its_codes(method, path, operation):
    for status in ("429", "503"):
        assert operation["responses"][status]["headers"]["Retry-After"]["required"] is True
    for status, response in operation["responses"].items():
        if int(status) >= 400:
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}
            assert schema["allOf"][1]["properties"]["code"]["enum"], f"{method} {path} {status}"
    validates = method in ("post", "put") or any(p["in"] == "query" for p in operation.get("parameters", []))
    assert "422" not in operation["responses"] or validates, "reads without query parameters validate nothing"


def test_every_code_the_service_and_its_gateway_answer_is_documented():
    documented = {
        code
        for _, _, operation in OPERATIONS
        for status, response in operation["responses"].items()
        if int(status) >= 400
        for code in response["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]["code"]["enum"]
    }
    gateway = load_yaml(ROOT / "template.yaml")["Resources"]["Api"]["Properties"]["GatewayResponses"]
    reachable = {
        json.loads(
            gateway[name]["ResponseTemplates"]["application/json"].replace("$context.error.messageString", '""')
        )["code"]
        for name in GATEWAY_RESPONSES
    }
    api_errors = {
        "malformed_json",
        "validation_error",
        "body_too_large",
        "unsupported_media_type",
        "internal_error",
        "configuration_error",
        "task_not_found",
        "no_task_for_model",
        "model_not_served",
        "model_not_found",
        "forbidden",
        "model_busy",
        "request_in_progress",
        "idempotency_key_reused",
        "store_unavailable",
        "execution_start_failed",
    }
    assert api_errors | reachable <= documented


def test_servers_include_the_deployed_stage_and_the_bare_local_path():
    urls = [server["url"] for server in DOCUMENT["servers"]]

    deployed = DOCUMENT["servers"][0]
    assert deployed["url"].endswith("/{stage}")
    assert deployed["variables"]["stage"]["default"] == "v1"
    assert "/" in urls
    assert "/v1" in urls
