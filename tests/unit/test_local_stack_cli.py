"""`python -m local_stack`: subcommands, ports from flags or environment, and `run` in-process."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import pytest

from local_stack.__main__ import _parser, main
from local_stack.emulator import EmulatedAwsServer, PortInUseError, ensure_port_free
from local_stack.run import RunOptions, serve

FIXTURE_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "local_stack" / "template.yaml"


def test_no_command_prints_the_commands_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "executions" in capsys.readouterr().err


def test_run_takes_ports_and_host_from_flags_then_environment_then_defaults() -> None:
    defaults = _parser().parse_args(["run"])
    with mock.patch.dict(os.environ, {"LOCAL_STACK_API_PORT": "3001", "LOCAL_STACK_AWS_PORT": "5001"}):
        from_environment = _parser().parse_args(["run"])
        from_flags = _parser().parse_args(["run", "--api-port", "0", "--aws-port", "0", "--host", "0.0.0.0"])

    assert (defaults.host, defaults.api_port, defaults.aws_port) == ("127.0.0.1", 3000, 5000)
    assert (from_environment.api_port, from_environment.aws_port) == (3001, 5001)
    assert (from_flags.host, from_flags.api_port, from_flags.aws_port) == ("0.0.0.0", 0, 0)


def test_a_taken_port_is_an_error_at_once_not_a_hang() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}"):
            ensure_port_free("127.0.0.1", port)
        with pytest.raises(PortInUseError), EmulatedAwsServer(FIXTURE_TEMPLATE, port=port):
            pass


def test_a_taken_port_names_the_flags_and_the_make_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        status = main(["run", "--template", str(FIXTURE_TEMPLATE), "--aws-port", str(port), "--api-port", "0"])

    error = capsys.readouterr().err
    assert status == 1
    assert f"127.0.0.1:{port}" in error
    for name in ("--api-port", "--aws-port", "API_PORT", "AWS_PORT"):
        assert name in error


def test_run_serves_the_api_over_the_emulated_aws_and_leaves_no_trace() -> None:
    out = io.StringIO()
    stop = threading.Event()
    outside = {"AWS_PROFILE": "production", "AWS_ENDPOINT_URL_DYNAMODB": "https://example.invalid"}
    options = RunOptions(template=FIXTURE_TEMPLATE, api_port=0, aws_port=0, log_requests=False)
    with mock.patch.dict(os.environ, outside):
        before = dict(os.environ)
        runner = threading.Thread(target=lambda: serve(options, out=out, stop=stop))
        runner.start()
        try:
            deadline = time.monotonic() + 300  # a bound on a hang, not a timing: a busy machine is slow
            while "Ctrl-C stops everything" not in out.getvalue():
                assert runner.is_alive(), out.getvalue()
                assert time.monotonic() < deadline, out.getvalue()
                time.sleep(0.05)
            environment_while_running = dict(os.environ)
            api_url = out.getvalue().split("  API  ", 1)[1].split()[0]
            request = urllib.request.Request(f"{api_url}/test/nowhere")
            with pytest.raises(urllib.error.HTTPError) as unknown:
                urllib.request.urlopen(request, timeout=10)
        finally:
            stop.set()
            runner.join(timeout=30)
        after = dict(os.environ)

    assert not runner.is_alive()
    assert unknown.value.code == 403
    assert json.loads(unknown.value.read()) == {"message": "Missing Authentication Token"}
    assert "AWS_PROFILE" not in environment_while_running
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in environment_while_running
    assert environment_while_running["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert environment_while_running["AWS_CONFIG_FILE"] == os.devnull
    assert after == before
    assert "GET    /items/{item_id}  -> EchoFunction" in out.getvalue()
    assert out.getvalue().rstrip().endswith("local stack stopped")
