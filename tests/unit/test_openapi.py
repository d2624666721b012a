import json
from pathlib import Path

from scripts.gen_openapi import build

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
