"""Cold starts: a fresh Python process imports a route's handler module and serves its first request.

Each run is `python bench/_cold_child.py` with the Lambda-like environment of bench.common (the stack's
variables pointed at the emulated AWS server in another process, an active X-Ray trace) and sys.path
laid out as Lambda lays it out: the function's code, then the layer, then the runtime (the venv,
whose boto3 and stdlib carry their .pyc as the Lambda runtime's do).

Implementations, run in turns so that drift hits them alike:

- `baseline`: bench/baseline, boto3 and the stdlib only.
- `service`: as deployed. `sam build` ships the layer and the functions as bare sources, without
  .pyc, and Lambda's /opt and /var/task are read-only, so every cold start compiles every module of
  the layer it imports. Staged here the same way: a copy of the layer's distributions and code
  without __pycache__, run with PYTHONDONTWRITEBYTECODE.
- `service_pyc`: the same code with bytecode (what shipping .pyc in the layer would give).
- `service_pyc_notrace`: with bytecode and POWERTOOLS_TRACE_DISABLED, to show what X-Ray costs.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.aws_server import AwsServer
from bench.common import (
    BASELINE_DIR,
    BENCH_DIR,
    FUNCTIONS_DIR,
    LAYER_DIR,
    MODEL,
    ROOT,
    ROUTES,
    WORK_DIR,
    ChildFailed,
    lambda_environment,
    ratio,
    route_event,
    tail,
)

CHILD = BENCH_DIR / "_cold_child.py"
STAGE = WORK_DIR / "cold_start"
FUNCTION_NAMES = {"create_task": "CreateTaskFunction", "read_task": "ReadTaskFunction"}
CHILD_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    service: bool
    bytecode: bool
    tracing: bool


VARIANTS = (
    Variant("baseline", "baseline (boto3 only)", service=False, bytecode=False, tracing=True),
    Variant("service", "service as deployed (layer without .pyc)", service=True, bytecode=False, tracing=True),
    Variant("service_pyc", "service, layer with .pyc", service=True, bytecode=True, tracing=True),
    Variant("service_pyc_notrace", "service, .pyc, tracing off", service=True, bytecode=True, tracing=False),
)


def run(server: AwsServer, *, runs: int, xray_daemon: str) -> dict[str, Any]:
    staged = stage_code()
    results: dict[str, Any] = {"runs_per_variant": runs, "variants": {v.key: v.label for v in VARIANTS}, "routes": {}}
    task_id: str | None = None
    creates = 0
    for route, (function_dir, baseline_module, description) in ROUTES.items():
        samples: dict[str, list[dict[str, float]]] = defaultdict(list)
        for i in range(runs + 1):  # the first round warms the page cache and writes .pyc where allowed
            for variant in _rotated(VARIANTS, i):
                # The first create is the task the reads read; later creates each claim a model of their
                # own (a model has one active task at a time, and here executions never finish).
                model = f"bench-cold-{creates}" if route == "create" and task_id is not None else MODEL
                creates += route == "create"
                sample = _cold_start(
                    server,
                    variant,
                    route,
                    function_dir=function_dir,
                    baseline_module=baseline_module,
                    staged=staged,
                    task_id=task_id,
                    model=model,
                    xray_daemon=xray_daemon,
                )
                if route == "create" and task_id is None and sample.get("task_id"):
                    task_id = str(sample["task_id"])
                if i > 0:
                    samples[variant.key].append(sample)
        results["routes"][route] = _summarize_route(description, samples)
    results["task_id"] = task_id
    results["import_profile"] = import_profiles(server, staged=staged, xray_daemon=xray_daemon, task_id=task_id)
    return results


def cold_start_once(server: AwsServer, route: str, *, staged: Mapping[str, Path], xray_daemon: str) -> dict[str, Any]:
    """One cold start of the service as deployed (what `python -m bench --only warm` uses for a task)."""
    function_dir, baseline_module, _ = ROUTES[route]
    return _cold_start(
        server,
        VARIANTS[1],
        route,
        function_dir=function_dir,
        baseline_module=baseline_module,
        staged=staged,
        task_id=None,
        xray_daemon=xray_daemon,
    )


def _rotated(variants: tuple[Variant, ...], i: int) -> list[Variant]:
    shift = i % len(variants)
    return [*variants[shift:], *variants[:shift]]


def _paths(variant: Variant, function_dir: str, staged: Mapping[str, Path]) -> list[str]:
    """sys.path as Lambda has it: /var/task (the function), /opt/python (the layer), the runtime."""
    if not variant.service:
        return [str(staged["baseline"]), str(staged["runtime"])]
    if variant.bytecode:
        return [str(FUNCTIONS_DIR / function_dir), str(staged["layer_pyc"]), str(staged["runtime"])]
    return [str(staged[function_dir]), str(staged["layer_src"]), str(staged["runtime"])]


def _child_env(
    server: AwsServer, variant: Variant, function_dir: str, code_dir: str, xray_daemon: str
) -> dict[str, str]:
    env = lambda_environment(
        server.environment,
        function=FUNCTION_NAMES[function_dir],
        code_dir=Path(code_dir),
        memory_mb=server.memory_of(function_dir),
        xray_daemon=xray_daemon,
        tracing=variant.tracing,
    )
    if not variant.bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _cold_start(
    server: AwsServer,
    variant: Variant,
    route: str,
    *,
    function_dir: str,
    baseline_module: str,
    staged: Mapping[str, Path],
    task_id: str | None,
    xray_daemon: str,
    model: str = MODEL,
    python_flags: tuple[str, ...] = (),
    profile: bool = False,
) -> dict[str, Any]:
    paths = _paths(variant, function_dir, staged)
    name = f"cold-{route}-{variant.key}"
    spec_path = STAGE / f"{name}.spec.json"
    out_path = STAGE / f"{name}.out.json"
    err_path = STAGE / f"{name}.err"
    out_path.unlink(missing_ok=True)
    spec = {
        "paths": paths,
        "module": "app" if variant.service else baseline_module,
        "event": route_event(route, task_id=task_id, model=model),
        "out": str(out_path),
        "profile": profile,
    }
    spec_path.write_text(json.dumps(spec))
    env = _child_env(server, variant, function_dir, paths[0], xray_daemon)
    with err_path.open("w") as stderr:
        t_spawn = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-S", *python_flags, str(CHILD), str(spec_path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
        t_exit = time.perf_counter()
    if completed.returncode != 0 or not out_path.exists():
        raise ChildFailed(f"cold start {name} exited {completed.returncode}:\n{tail(err_path)}")
    child = json.loads(out_path.read_text())
    if child["status"] not in (200, 202):
        raise ChildFailed(f"cold start {name} answered {child['status']}:\n{tail(err_path)}")
    return {
        "total_ms": (child["t_responded"] - t_spawn) * 1000,
        "interpreter_ms": (child["t_main"] - t_spawn) * 1000,
        "import_ms": (child["t_imported"] - child["t_import"]) * 1000,
        "first_request_ms": (child["t_responded"] - child["t_imported"]) * 1000,
        "process_ms": (t_exit - t_spawn) * 1000,
        "modules_imported": child["modules_imported"],
        "max_rss_mb": child["max_rss_kb"] / 1024,
        "task_id": child.get("task_id"),
        "importtime": err_path.read_text() if "-X" in python_flags else "",
        "profile": child.get("profile"),
    }


def _summarize_route(description: str, samples: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    fields = ("total_ms", "interpreter_ms", "import_ms", "first_request_ms", "max_rss_mb", "modules_imported")
    medians: dict[str, dict[str, Any]] = {
        key: {field: statistics.median(float(s[field]) for s in runs) for field in fields}
        for key, runs in samples.items()
    }
    base = medians["baseline"]
    for key, values in medians.items():
        values["ratio_total"] = ratio(values["total_ms"], base["total_ms"])
        values["ratio_import"] = ratio(values["import_ms"], base["import_ms"])
        values["ratio_first_request"] = ratio(values["first_request_ms"], base["first_request_ms"])
        values["total_ms_all"] = [round(float(s["total_ms"]), 1) for s in samples[key]]
    return {"route": description, "median": medians}


# ---------------------------------------------------------------- staging code as Lambda lays it out


def stage_code() -> dict[str, Path]:
    """Directories for the children's sys.path, rebuilt every run so edits are measured:

    - `runtime`: what the Lambda Python runtime provides, boto3 and its dependencies (with .pyc);
    - `layer_src`: the layer as `sam build` ships it: its distributions and inference_deploy, no .pyc;
    - `layer_pyc`: the same distributions with their .pyc (links into the venv);
    - each API function's code and the baseline without .pyc.

    Children run with `python -S`, so nothing else of the venv (moto, requests, pytest, ...) is
    importable: the X-Ray SDK patches every library it finds, and must find only what Lambda has."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    staged = {
        "runtime": STAGE / "runtime",
        "layer_src": STAGE / "layer" / "python",
        "layer_pyc": STAGE / "layer_pyc" / "python",
        "baseline": STAGE / "baseline",
    }
    runtime = closure(["boto3"])
    layer = closure(_requirements(LAYER_DIR / "requirements.txt"))
    _link_distributions(runtime, staged["runtime"])
    _link_distributions(layer, staged["layer_pyc"])
    (staged["layer_pyc"] / "inference_deploy").symlink_to(LAYER_DIR / "inference_deploy")
    _copy_distribution_sources(layer, staged["layer_src"])
    _copy_sources(LAYER_DIR / "inference_deploy", staged["layer_src"] / "inference_deploy")
    _copy_sources(BASELINE_DIR, staged["baseline"])
    for function_dir in FUNCTION_NAMES:
        staged[function_dir] = STAGE / "functions" / function_dir
        _copy_sources(FUNCTIONS_DIR / function_dir, staged[function_dir])
    return staged


def _copy_sources(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _top_levels(distribution: metadata.Distribution) -> set[str]:
    return {Path(str(file)).parts[0] for file in distribution.files or () if Path(str(file)).parts[0] != ".."}


def _link_distributions(distributions: Iterable[metadata.Distribution], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for distribution in distributions:
        for name in _top_levels(distribution) - {"__pycache__"}:
            source = Path(str(distribution.locate_file(name)))
            if source.exists() and not (target / name).exists():
                (target / name).symlink_to(source)


def _copy_distribution_sources(distributions: Iterable[metadata.Distribution], target: Path) -> None:
    for distribution in distributions:
        for file in distribution.files or ():
            parts = Path(str(file)).parts
            if parts[0] == ".." or "__pycache__" in parts or str(file).endswith(".pyc"):
                continue
            source = Path(str(distribution.locate_file(file)))
            if source.is_file():
                (target / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / file)


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def closure(requirements: Iterable[str]) -> list[metadata.Distribution]:
    """Installed distributions of `requirements` and everything they require (extras and markers
    honoured), as pip resolved them into the venv: the same pins `sam build` installs."""
    from packaging.requirements import Requirement  # noqa: PLC0415 - a dev dependency, only needed here

    found: dict[str, metadata.Distribution] = {}
    pending = [Requirement(line) for line in requirements]
    while pending:
        requirement = pending.pop()
        key = _normalize(requirement.name)
        if key in found:
            continue
        distribution = metadata.distribution(requirement.name)
        found[key] = distribution
        extras = set(requirement.extras) or {""}
        for raw in distribution.requires or ():
            dependency = Requirement(raw)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(dependency)
    return list(found.values())


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------- where the time goes


def import_profiles(
    server: AwsServer, *, staged: Mapping[str, Path], xray_daemon: str, task_id: str | None
) -> dict[str, Any]:
    """`python -X importtime` of each API function's cold start (as deployed, and with .pyc), grouped by
    top-level package (self time), plus a cProfile of the first request."""
    profiles: dict[str, Any] = {}
    for route in ("create", "status"):
        function_dir, baseline_module, _ = ROUTES[route]
        for variant in (VARIANTS[1], VARIANTS[2]):
            sample = _cold_start(
                server,
                variant,
                route,
                function_dir=function_dir,
                baseline_module=baseline_module,
                staged=staged,
                task_id=task_id,
                model=f"bench-importtime-{variant.key.replace('_', '-')}",
                xray_daemon=xray_daemon,
                python_flags=("-X", "importtime"),
            )
            profiles[f"{function_dir}/{variant.key}"] = {
                "import_ms_by_package": _importtime_by_package(sample["importtime"]),
                "slowest_modules_ms": _importtime_slowest(sample["importtime"]),
            }
        profiled = _cold_start(
            server,
            VARIANTS[2],
            route,
            function_dir=function_dir,
            baseline_module=baseline_module,
            staged=staged,
            task_id=task_id,
            model="bench-profile",
            xray_daemon=xray_daemon,
            profile=True,
        )
        profiles[f"{function_dir}/first_request"] = profiled["profile"]
    return profiles


_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _importtime_lines(text: str) -> Iterator[tuple[int, int, int, str]]:
    for line in text.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            yield int(match[1]), int(match[2]), len(match[3]), match[4]


def _importtime_by_package(text: str, top: int = 12) -> dict[str, float]:
    by_package: dict[str, int] = defaultdict(int)
    for self_us, _, _, module in _importtime_lines(text):
        by_package[module.split(".")[0]] += self_us
    ordered = sorted(by_package.items(), key=lambda item: -item[1])
    result = {name: us / 1000 for name, us in ordered[:top]}
    result["(other)"] = sum(us for _, us in ordered[top:]) / 1000
    result["(total)"] = sum(by_package.values()) / 1000
    return result


def _importtime_slowest(text: str, top: int = 10) -> dict[str, float]:
    slowest = sorted(_importtime_lines(text), key=lambda line: -line[0])[:top]
    return {module: self_us / 1000 for self_us, _, _, module in slowest}


def headline(results: Mapping[str, Any]) -> Iterable[tuple[str, str, float, float, float, float, float]]:
    """(route, variant, total, import, first request, ratio, rss) rows for the table."""
    for data in results["routes"].values():
        for key, values in data["median"].items():
            yield (
                data["route"],
                key,
                values["total_ms"],
                values["import_ms"],
                values["first_request_ms"],
                values["ratio_total"],
                values["max_rss_mb"],
            )
