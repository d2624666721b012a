"""The interactive API reference at /docs: Swagger UI from a package, rendered by a real headless browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack import plan_stack
from local_stack.api_gateway import ApiGatewayServer
from local_stack.template import load_template

ROOT = Path(__file__).resolve().parents[2]
# Kept after the run (git-ignored): what the reference looked like.
ARTIFACTS = ROOT / "test-output"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # Lets the page's scripts, its fetch of openapi.json and Swagger UI's rendering finish before the dump.
    "--virtual-time-budget=20000",
]
OPERATIONS = [
    (method.upper(), path, operation["summary"])
    for path, operations in json.loads((ROOT / "openapi.json").read_text())["paths"].items()
    for method, operation in operations.items()
]


@pytest.fixture(scope="module")
def gateway() -> Iterator[ApiGatewayServer]:
    stack = plan_stack(load_template(ROOT / "template.yaml"))
    with ApiGatewayServer.from_stack(stack, port=0) as server:
        yield server


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_the_reference_and_its_assets_are_served_locally(gateway: ApiGatewayServer) -> None:
    status, kind, page = _get(f"{gateway.url}/docs")
    assert status == 200
    assert kind.startswith("text/html")
    assert b"http" not in page, "every asset comes from this server, none from a CDN"
    status, kind, script = _get(f"{gateway.url}/docs/static/swagger-ui-bundle.js")
    assert status == 200
    assert len(script) > 100_000
    status, kind, document = _get(f"{gateway.url}/docs/openapi.json")
    served = json.loads(document)
    assert served["paths"] == json.loads((ROOT / "openapi.json").read_text())["paths"]
    assert served["servers"][0]["url"] == "/", "Try it out calls the local stack"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`; .ci/run installs it)")
def test_a_browser_shows_every_operation(gateway: ApiGatewayServer) -> None:
    assert CHROMIUM is not None
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "api-reference.png"
    screenshot.unlink(missing_ok=True)
    url = f"{gateway.url}/docs"

    dom = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, "--window-size=1280,2200", f"--screenshot={screenshot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )

    assert "Inference Deployment Tasks API" in dom
    for method, path, summary in OPERATIONS:
        assert f'data-path="{path}"' in dom or path in dom, f"{method} {path} is not listed"
        assert summary in dom, summary
    assert dom.count("opblock-summary-method") >= len(OPERATIONS)
    assert screenshot.is_file()
    assert screenshot.stat().st_size > 10_000
