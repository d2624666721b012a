"""Runs each moto patch's proof test with only that patch left out, each in a process of its own.

`python -m tests.unit.patch_proofs NAME=TEST_ID ...` prints {name: {"exit": code, "output": tail,
"seconds": duration}} as JSON. What every proof imports first (moto above all) is imported once, here;
each run is then a fork of this process (POSIX), so it starts as a fresh process would, without paying
Python's and those imports' start-up again (seconds each, for every patch). Where fork is missing, or
a thread is running, each run is a new interpreter, as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_PATCHES = "LOCAL_STACK_WITHOUT_PATCHES"
PYTEST_ARGS = ["-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest"]
OUTPUT_TAIL = 3000


def _forked(name: str, test_id: str) -> tuple[int, str]:
    import pytest  # noqa: PLC0415 - imported before the first fork, below

    with tempfile.TemporaryFile(mode="w+") as output:
        pid = os.fork()
        if pid == 0:  # the child: its own process, its output into `output`
            code = 3  # pytest's "internal error", should anything escape pytest.main
            try:
                os.environ[WITHOUT_PATCHES] = name
                os.dup2(output.fileno(), 1)
                os.dup2(output.fileno(), 2)
                code = int(pytest.main([test_id, *PYTEST_ARGS]))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        output.seek(0)
        return os.waitstatus_to_exitcode(status), output.read()[-OUTPUT_TAIL:]


def _spawned(name: str, test_id: str) -> tuple[int, str]:
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", test_id, *PYTEST_ARGS],
        cwd=ROOT,
        env={**os.environ, WITHOUT_PATCHES: name},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return completed.returncode, (completed.stdout + completed.stderr)[-OUTPUT_TAIL:]


def main(pairs: list[str]) -> None:
    proofs = dict(pair.split("=", 1) for pair in pairs)
    os.environ.pop("PYTEST_XDIST_WORKER", None)
    run = _spawned
    if hasattr(os, "fork"):
        # What every proof imports first and takes longest (moto above all). Not the test modules or the
        # conftest: pytest must import those itself, to rewrite their asserts.
        import pytest  # noqa: PLC0415, F401

        import local_stack  # noqa: PLC0415, F401

        if threading.active_count() == 1:  # a fork copies only the thread calling it
            run = _forked
    results = {}
    for name, test_id in proofs.items():
        started = time.monotonic()
        code, output = run(name, test_id)
        results[name] = {"exit": code, "output": output, "seconds": round(time.monotonic() - started, 1)}
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
