"""`python -m bench [--size small|full] [--output bench/results.json] [--only SECTION ...]`.

Runs every section side by side in one go, prints the tables and writes the same numbers, with the
machine and package versions, to the output file. Exits 1 when a section failed (CI runs the small
size to keep the bench working; no number is asserted)."""

from __future__ import annotations

import argparse
import socket
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cold_start, history, local_e2e, package_weight, report, rollout, warm
from bench.aws_server import AwsServer, aws_server
from bench.common import ROOT, WORK_DIR, rounded, write_json
from bench.sizes import SIZES, Size

SECTIONS = ("cold_start", "warm", "history", "rollout", "package_weight", "local_e2e")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument(
        "--output", type=Path, help="where the results go (default: bench/results.json, bench/.work/ for small)"
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    output: Path = args.output or (
        ROOT / "bench" / "results.json" if size.name == "full" else WORK_DIR / f"results-{size.name}.json"
    )
    wanted = set(args.only or SECTIONS)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": size.as_json(),
        "machine": report.machine(),
        "sections": {},
        "section_seconds": {},
    }
    # X-Ray segments go to a UDP socket nobody reads, as they go to the daemon in Lambda.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as xray:
        xray.bind(("127.0.0.1", 0))
        daemon = f"127.0.0.1:{xray.getsockname()[1]}"
        _run_sections(results, size, wanted, daemon)
    results["poor_ratios"] = report.poor_ratios(results["sections"])
    results["section_seconds"]["(whole run)"] = time.perf_counter() - started
    results = rounded(results)
    print(report.render(results))
    output.parent.mkdir(parents=True, exist_ok=True)
    write_json(output, results)
    print(f"\nwrote {output}")
    failed = [name for name, section in results["sections"].items() if "error" in section]
    return 1 if failed else 0


def _run_sections(results: dict[str, Any], size: Size, wanted: set[str], daemon: str) -> None:
    sections: dict[str, Any] = results["sections"]

    def timed(name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name not in wanted:
            return {}
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            sections[name] = run()
        except Exception as exc:  # one broken section must not hide the others' numbers
            sections[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        results["section_seconds"][name] = time.perf_counter() - started
        return dict(sections[name])

    if wanted & {"cold_start", "warm"}:
        with aws_server() as server:
            results["emulated_aws_startup_s"] = server.startup_s
            cold = timed("cold_start", lambda: cold_start.run(server, runs=size.cold_start_runs, xray_daemon=daemon))
            timed("warm", lambda: _warm(server, size, cold.get("task_id"), daemon))
    if "history" in wanted:
        with aws_server() as server:
            timed(
                "history",
                lambda: history.run(server, sizes=size.history_sizes, reads=size.history_reads, xray_daemon=daemon),
            )
    timed("rollout", lambda: rollout.run(poll_rounds=size.rollout_poll_rounds))
    timed("package_weight", package_weight.run)
    timed("local_e2e", local_e2e.run)


def _warm(server: AwsServer, size: Size, task_id: str | None, daemon: str) -> dict[str, Any]:
    if task_id is None:
        task_id = _create_one(server, daemon)
    return warm.run(
        server,
        task_id=task_id,
        server_iterations=size.warm_server_iterations,
        create_server_iterations=size.warm_create_server_iterations,
        stub_iterations=size.warm_stub_iterations,
        rounds=size.warm_rounds,
        xray_daemon=daemon,
    )


def _create_one(server: AwsServer, daemon: str) -> str:
    """A task to read when the cold-start section (which creates one) did not run."""
    staged = cold_start.stage_code()
    sample = cold_start.cold_start_once(server, "create", staged=staged, xray_daemon=daemon)
    return str(sample["task_id"])


if __name__ == "__main__":
    raise SystemExit(main())
