"""One cold start: `python bench/_cold_child.py SPEC_FILE` (run as a script, not `-m`, so nothing of the
bench is imported first). Lays out sys.path as Lambda does (function code, the layer, the runtime),
imports the handler module, serves one request, and writes its perf_counter readings (and its CPU
time, process_time, which other processes on the machine disturb less) to the spec's `out`, with
(after the timed part) where the spec's `origins` modules came from, what X-Ray patched, and how many
of the modules under each sys.path entry had bytecode to load.

perf_counter is CLOCK_MONOTONIC on Linux, the same clock in every process, so the parent can take
"process start -> first response" from its own reading before spawning this one.
"""

import time

T_MAIN = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def main() -> None:
    with open(sys.argv[1]) as spec_file:
        spec = json.load(spec_file)
    # Run with -S: only the stdlib is on sys.path. Drop this script's directory (bench/ must not shadow
    # anything), then lay out the function, the layer and the runtime as Lambda does.
    del sys.path[0]
    sys.path[:0] = spec["paths"]
    event = spec["event"]
    modules_before = len(sys.modules)

    c_import, t_import = time.process_time(), time.perf_counter()
    __import__(spec["module"])  # not importlib.import_module: -X importtime does not see that path
    module = sys.modules[spec["module"]]
    t_imported, c_imported = time.perf_counter(), time.process_time()
    profiler = _profiler() if spec.get("profile") else None
    response = module.lambda_handler(event, _Context())
    t_responded, c_responded = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.disable()

    body = response.get("body") or ""
    answer = json.loads(body) if body.startswith("{") else {}
    result = {
        "t_main": T_MAIN,
        "t_import": t_import,
        "t_imported": t_imported,
        "t_responded": t_responded,
        "c_import": c_import,
        "c_imported": c_imported,
        "c_responded": c_responded,
        "status": response.get("statusCode"),
        "task_id": answer.get("id"),
        "modules_imported": len(sys.modules) - modules_before,
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "profile": _top_functions(profiler) if profiler is not None else None,
        "origins": {name: getattr(sys.modules.get(name), "__file__", None) for name in spec.get("origins", ())},
        "xray_patched": _xray_patched(),
        "bytecode": _bytecode(spec["paths"]),
    }
    with open(spec["out"], "w") as out:
        json.dump(result, out)


def _xray_patched() -> list[str] | None:
    """The modules the X-Ray SDK patched (None when it was not imported)."""
    patcher = sys.modules.get("aws_xray_sdk.core.patcher")
    return sorted(getattr(patcher, "_PATCHED_MODULES", ())) if patcher is not None else None


def _bytecode(paths: list[str]) -> dict[str, dict[str, int]]:
    """Per sys.path entry: the source modules imported from it, and how many had their .pyc there."""
    counts = {path: {"modules": 0, "with_pyc": 0} for path in paths}
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None) or ""
        if not file.endswith(".py"):
            continue
        for path in paths:
            if file.startswith(path + "/"):
                counts[path]["modules"] += 1
                cached = getattr(module, "__cached__", None)
                counts[path]["with_pyc"] += bool(cached and os.path.exists(cached))
                break
    return counts


def _profiler() -> Any:
    import cProfile  # noqa: PLC0415 - only when profiling, after the timed part

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _top_functions(profiler: Any, top: int = 40) -> list[dict[str, object]]:
    """The first request's functions by cumulative time (cProfile inflates them; use for attribution)."""
    import pstats  # noqa: PLC0415

    stats: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda item: -item[1][3])[:top]
    return [
        {
            "function": f"{_short(file)}:{line}({name})",
            "cumulative_ms": round(cumulative * 1000, 2),
            "self_ms": round(own * 1000, 2),
            "calls": calls,
        }
        for (file, line, name), (_, calls, own, cumulative, _) in rows
    ]


def _short(path: str) -> str:
    for marker in ("site-packages/", "/python/", "/runtime/", "/layers/common/", "/functions/", "/lib/python3.13/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


class _Context:
    function_name = "bench-cold-start"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-cold-start"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/bench-cold-start"
    log_stream_name = "2026/01/01/[$LATEST]bench"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


if __name__ == "__main__":
    main()
