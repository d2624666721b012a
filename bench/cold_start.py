"""Cold starts: a fresh Python process imports a route's handler module and serves its first request.

Each run is `python -S bench/_cold_child.py` with the Lambda-like environment of bench.common (the stack's
variables pointed at the emulated AWS server in another process, an active X-Ray trace) and sys.path
laid out as Lambda lays it out: the function's code (/var/task), the layer (/opt/python), then a
"runtime" directory with boto3 and its dependencies only (with .pyc, as the Lambda runtime has them).
Nothing else of the venv is importable: the X-Ray SDK patches every library it finds, and must find
only what Lambda has. Every child runs with PYTHONDONTWRITEBYTECODE (/opt and /var/task are read-only).

What the service runs is what `sam build` produced (bench/deployed.py), when .aws-sam/build is current:
the layer directory .aws-sam/build/CommonLayer/python with its hash-checked .pyc, and the functions of
.aws-sam/build/<Function>/, copied to bench/.work so that no run can write into the build. The layer's
native extensions are Lambda's arm64 builds there; the copy gets this machine's build of the same
version beside them. Without a current build the layer is staged from the venv the way
layers/common/Makefile builds it (the pinned distributions, no dependencies, compiled with
unchecked-hash bytecode) and the results say "staged, not the build".

Implementations, run in turns so that drift hits them alike:

- `baseline`: bench/baseline, boto3 and the stdlib only (its one module without .pyc).
- `service`: as deployed.
- `service_nopyc`: as deployed without the layer's .pyc (what the old `sam build` python builder
  shipped): every cold start compiles the layer modules it imports. Shows what the bytecode buys.
- `service_tracer`: as deployed with ApiTracerSubsegments=true (TRACER_SUBSEGMENTS=true): the
  Powertools Tracer imports the X-Ray SDK and adds a subsegment per AWS call. Shows what the Tracer costs.

Every child reports where botocore, the layer's packages and the handler came from, what X-Ray patched
and how many layer modules had bytecode; a run that does not look like Lambda fails (so does one whose
X-Ray SDK is imported when its Tracer is off, or does not patch botocore when it is on).
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
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import deployed
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
    own_model,
    ratio,
    route_event,
    tail,
    tracer_on,
)

CHILD = BENCH_DIR / "_cold_child.py"
STAGE = WORK_DIR / "cold_start"
FUNCTION_NAMES = {"create_task": "CreateTaskFunction", "read_task": "ReadTaskFunction"}
CHILD_TIMEOUT_S = 120.0
# Packages whose origin every child reports: the layer's, the runtime's, and the handler module.
LAYER_PACKAGES = ("inference_deploy", "aws_lambda_powertools", "aws_xray_sdk", "pydantic", "pydantic_core", "wrapt")
RUNTIME_PACKAGES = ("boto3", "botocore", "urllib3", "dateutil", "s3transfer")
# Imports whose whole cost (cumulative, wherever first imported) the import profile reports.
LANDMARKS = (
    "boto3",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi.params",
    "aws_lambda_powertools.event_handler.appsync",
    "asyncio",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_xray_sdk.core",
    "inference_deploy.observability",
)


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    service: bool
    layer_bytecode: bool  # the layer ships its .pyc
    tracing: bool | None  # the Powertools Tracer: None as the template configures the function


VARIANTS = (
    Variant("baseline", "baseline (boto3 only)", service=False, layer_bytecode=False, tracing=None),
    Variant("service", "service as deployed (layer with .pyc)", service=True, layer_bytecode=True, tracing=None),
    Variant(
        "service_nopyc",
        "as deployed without the layer's .pyc (what bytecode buys)",
        service=True,
        layer_bytecode=False,
        tracing=None,
    ),
    Variant(
        "service_tracer",
        "as deployed with ApiTracerSubsegments=true: the X-Ray SDK's Tracer (what it costs)",
        service=True,
        layer_bytecode=True,
        tracing=True,
    ),
)
AS_DEPLOYED = VARIANTS[1]


@dataclass
class Staged:
    """The directories of the children's sys.path, and where the service's code came from."""

    runtime: Path
    baseline: Path
    layer: Path  # /opt/python as deployed: with .pyc
    layer_nopyc: Path  # the same files without __pycache__
    functions: dict[str, Path]  # /var/task of each API function, as sam build ships it (no .pyc)
    from_build: bool
    label: str
    stale: list[str] = field(default_factory=list)
    layer_info: dict[str, Any] = field(default_factory=dict)

    def paths(self, variant: Variant, function_dir: str) -> list[str]:
        """sys.path as Lambda has it: /var/task (the function), /opt/python (the layer), the runtime."""
        if not variant.service:
            return [str(self.baseline), str(self.runtime)]
        layer = self.layer if variant.layer_bytecode else self.layer_nopyc
        return [str(self.functions[function_dir]), str(layer), str(self.runtime)]

    def as_json(self) -> dict[str, Any]:
        return {"from_build": self.from_build, "label": self.label, "stale": self.stale, "layer": self.layer_info}


def run(server: AwsServer, *, runs: int, xray_daemon: str) -> dict[str, Any]:
    staged = stage_code()
    results: dict[str, Any] = {
        "runs_per_variant": runs,
        "as_deployed": staged.as_json(),
        "variants": {v.key: v.label for v in VARIANTS},
        "checks": {},
        "routes": {},
    }
    task_id: str | None = None
    creates = 0
    for route, (function_dir, baseline_module, description) in ROUTES.items():
        samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for i in range(runs + 1):  # the first round warms the page cache
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
                results["checks"].setdefault(f"{function_dir}/{variant.key}", sample["checks"])
                if i > 0:
                    samples[variant.key].append(sample)
        results["routes"][route] = _summarize_route(description, samples)
    results["task_id"] = task_id
    results["import_profile"] = import_profiles(server, staged=staged, xray_daemon=xray_daemon, task_id=task_id)
    return results


def cold_start_once(server: AwsServer, route: str, *, staged: Staged, xray_daemon: str) -> dict[str, Any]:
    """One cold start of the service as deployed (what `python -m bench --only warm` uses for a task)."""
    function_dir, baseline_module, _ = ROUTES[route]
    return _cold_start(
        server,
        AS_DEPLOYED,
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
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # /var/task and /opt are read-only in Lambda
    return env


def _cold_start(
    server: AwsServer,
    variant: Variant,
    route: str,
    *,
    function_dir: str,
    baseline_module: str,
    staged: Staged,
    task_id: str | None,
    xray_daemon: str,
    model: str = MODEL,
    python_flags: tuple[str, ...] = (),
    profile: bool = False,
) -> dict[str, Any]:
    paths = staged.paths(variant, function_dir)
    if route == "create":
        own_model(server.endpoint_url, model)  # before the clock: the caller must own what it deploys
    name = f"cold-{route}-{variant.key}"
    spec_path = STAGE / f"{name}.spec.json"
    out_path = STAGE / f"{name}.out.json"
    err_path = STAGE / f"{name}.err"
    out_path.unlink(missing_ok=True)
    module = "app" if variant.service else baseline_module
    spec = {
        "paths": paths,
        "module": module,
        "event": route_event(route, task_id=task_id, model=model),
        "out": str(out_path),
        "profile": profile,
        "origins": [module, *LAYER_PACKAGES, *RUNTIME_PACKAGES],
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
    checks = _checks(variant, paths, module, child, tracer=tracer_on(env))
    if checks["problems"]:
        raise ChildFailed(f"cold start {name} does not look like Lambda: {'; '.join(checks['problems'])}")
    return {
        "total_ms": (child["t_responded"] - t_spawn) * 1000,
        "interpreter_ms": (child["t_main"] - t_spawn) * 1000,
        "import_ms": (child["t_imported"] - child["t_import"]) * 1000,
        "first_request_ms": (child["t_responded"] - child["t_imported"]) * 1000,
        "process_ms": (t_exit - t_spawn) * 1000,
        # CPU time of the child (process_time counts from its start): steadier than wall time on a busy machine.
        "cpu_ms": child["c_responded"] * 1000,
        "import_cpu_ms": (child["c_imported"] - child["c_import"]) * 1000,
        "first_request_cpu_ms": (child["c_responded"] - child["c_imported"]) * 1000,
        "modules_imported": child["modules_imported"],
        "max_rss_mb": child["max_rss_kb"] / 1024,
        "task_id": child.get("task_id"),
        "importtime": err_path.read_text() if "-X" in python_flags else "",
        "profile": child.get("profile"),
        "checks": checks,
    }


def _checks(
    variant: Variant, paths: list[str], module: str, child: Mapping[str, Any], *, tracer: bool
) -> dict[str, Any]:
    """Where the child's code came from, by sys.path entry ("function", "layer", "runtime"), and what
    breaks the Lambda layout: botocore from anywhere but the runtime, the layer's packages from anywhere
    but the layer, X-Ray not patching botocore with the Tracer on or imported at all with it off,
    bytecode where there should be none or none where there should be some."""
    roles = dict(
        zip(paths, ("function", "layer", "runtime") if variant.service else ("function", "runtime"), strict=True)
    )

    def role(file: str | None) -> str | None:
        if file is None:
            return None
        return next((r for path, r in roles.items() if file.startswith(path + "/")), f"elsewhere: {file}")

    origins = {name: role(file) for name, file in child["origins"].items()}
    problems = [f"{name} from {where}" for name, where in origins.items() if where and where.startswith("elsewhere")]
    expected = {module: "function", **dict.fromkeys(RUNTIME_PACKAGES, "runtime")}
    if variant.service:
        expected.update(dict.fromkeys(LAYER_PACKAGES, "layer"))
    problems += [
        f"{name} from the {origins[name]}, not the {where}"
        for name, where in expected.items()
        if origins.get(name) is not None and origins[name] != where
    ]
    if origins.get("botocore") is None:
        problems.append("botocore was not imported")
    patched = child.get("xray_patched")
    if variant.service and tracer and "botocore" not in (patched or []):
        problems.append(f"X-Ray did not patch botocore (patched: {patched})")
    if variant.service and not tracer and origins.get("aws_xray_sdk") is not None:
        problems.append("the X-Ray SDK was imported with the Tracer off")
    bytecode = {roles[path]: counts for path, counts in child["bytecode"].items() if path in roles}
    runtime = bytecode.get("runtime", {"modules": 0, "with_pyc": 0})
    if runtime["with_pyc"] != runtime["modules"]:
        problems.append(f"{runtime['with_pyc']} of {runtime['modules']} runtime modules had .pyc (Lambda's have)")
    if variant.service:
        layer = bytecode.get("layer", {"modules": 0, "with_pyc": 0})
        wanted = layer["modules"] if variant.layer_bytecode else 0
        if layer["modules"] == 0 or layer["with_pyc"] != wanted:
            problems.append(f"{layer['with_pyc']} of {layer['modules']} layer modules had .pyc, expected {wanted}")
    return {"origins": origins, "xray_patched": patched, "bytecode": bytecode, "problems": problems}


def _summarize_route(description: str, samples: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    fields = (
        "total_ms",
        "interpreter_ms",
        "import_ms",
        "first_request_ms",
        "cpu_ms",
        "import_cpu_ms",
        "first_request_cpu_ms",
        "max_rss_mb",
        "modules_imported",
    )
    medians: dict[str, dict[str, Any]] = {
        key: {field: statistics.median(float(s[field]) for s in runs) for field in fields}
        for key, runs in samples.items()
    }
    base = medians["baseline"]
    for key, values in medians.items():
        values["ratio_total"] = ratio(values["total_ms"], base["total_ms"])
        values["ratio_import"] = ratio(values["import_ms"], base["import_ms"])
        values["ratio_first_request"] = ratio(values["first_request_ms"], base["first_request_ms"])
        values["ratio_cpu"] = ratio(values["cpu_ms"], base["cpu_ms"])
        values["total_ms_all"] = [round(float(s["total_ms"]), 1) for s in samples[key]]
        # Each round runs every implementation once, in turns: a round's ratio is the least disturbed by drift.
        for measure, name in (("total_ms", "ratio_total_by_round"), ("cpu_ms", "ratio_cpu_by_round")):
            by_round = [ratio(s[measure], b[measure]) for s, b in zip(samples[key], samples["baseline"], strict=True)]
            values[name] = {"median": statistics.median(by_round), "min": min(by_round), "max": max(by_round)}
    return {"route": description, "median": medians}


# ---------------------------------------------------------------- staging code as Lambda lays it out


def stage_code() -> Staged:
    """The children's directories, rebuilt every run so that edits are measured (bench/.work/cold_start):

    - `runtime`: what the Lambda Python runtime provides, boto3 and its dependencies (links into the
      venv, with its .pyc);
    - `layer/python`: the layer as deployed, with .pyc: a copy of .aws-sam/build/CommonLayer/python when
      the build is current, else staged from the venv as layers/common/Makefile builds it;
    - `layer_nopyc/python`: the same files without __pycache__;
    - each API function's code as sam build ships it (from .aws-sam/build when current), and the
      baseline, without .pyc."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    runtime = STAGE / "runtime"
    stage_runtime(runtime)
    baseline = STAGE / "baseline"
    _copy_sources(BASELINE_DIR, baseline)
    layer, layer_nopyc = STAGE / "layer" / "python", STAGE / "layer_nopyc" / "python"

    stale = deployed.layer_staleness()
    for function_dir, logical_id in FUNCTION_NAMES.items():
        stale += deployed.function_staleness(logical_id, FUNCTIONS_DIR / function_dir)
    layer_info: dict[str, Any] = {}
    from_build = not stale
    if from_build:
        try:
            copy = deployed.copy_layer(layer)
            layer_info = copy.as_json() | {"source": str(deployed.LAYER_BUILD.relative_to(ROOT))}
        except deployed.CannotRunHere as exc:
            stale, from_build = [f"the build cannot run here: {exc}"], False
            shutil.rmtree(layer, ignore_errors=True)
    if not from_build:
        stage_layer_like_the_makefile(layer)
        layer_info = {
            "source": "the venv's installs of layers/common/requirements.txt (no deps), layers/common/inference_deploy,"
            " pruned by layers/common/prune.txt",
            "pyc": deployed.pyc_kinds(layer),
        }
    _copy_sources(layer, layer_nopyc)
    functions: dict[str, Path] = {}
    for function_dir, logical_id in FUNCTION_NAMES.items():
        functions[function_dir] = STAGE / "functions" / function_dir
        _copy_sources(
            deployed.BUILD_DIR / logical_id if from_build else FUNCTIONS_DIR / function_dir, functions[function_dir]
        )
    if from_build:
        label = "as deployed: the layer and functions of .aws-sam/build (sam build), layer with .pyc"
    else:
        label = (
            "STAGED, NOT THE BUILD: layer staged from the venv like layers/common/Makefile (no current .aws-sam/build)"
        )
    return Staged(
        runtime=runtime,
        baseline=baseline,
        layer=layer,
        layer_nopyc=layer_nopyc,
        functions=functions,
        from_build=from_build,
        label=label,
        stale=stale,
        layer_info=layer_info,
    )


def stage_runtime(target: Path) -> None:
    """What the Lambda Python runtime provides: boto3 and its dependencies (links into the venv, with .pyc)."""
    _link_distributions(deployed.closure(deployed.RUNTIME_REQUIREMENTS), target)


def stage_layer_like_the_makefile(target: Path, *, compile_bytecode: bool = True) -> None:
    """What layers/common/Makefile builds, from the venv: the pinned distributions without their
    dependencies, inference_deploy, minus layers/common/prune.txt, and unchecked-hash bytecode (native
    code is this machine's)."""
    _copy_distribution_sources(deployed.layer_distributions(), target)
    _copy_sources(LAYER_DIR / "inference_deploy", target / "inference_deploy")
    deployed.prune(target)
    if not compile_bytecode:
        return
    # The Makefile's own command (in a process of its own: compileall's worker pool must not fork the bench).
    compiled = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(target)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if compiled.returncode != 0:
        raise ChildFailed(f"compileall failed in {target}:\n{compiled.stdout[-2000:]}{compiled.stderr[-2000:]}")


def _copy_sources(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _top_levels(distribution: metadata.Distribution) -> set[str]:
    return {Path(str(file)).parts[0] for file in distribution.files or () if Path(str(file)).parts[0] != ".."}


def _link_distributions(distributions: Iterable[metadata.Distribution], target: Path) -> None:
    """Link each distribution's top-level packages into `target`, and the .pyc of its top-level modules
    (six.py, typing_extensions.py) into target/__pycache__, so that they load precompiled too."""
    (target / "__pycache__").mkdir(parents=True, exist_ok=True)
    for distribution in distributions:
        for name in _top_levels(distribution) - {"__pycache__"}:
            source = Path(str(distribution.locate_file(name)))
            if source.exists() and not (target / name).exists():
                (target / name).symlink_to(source)
        for file in distribution.files or ():
            parts = Path(str(file)).parts
            if len(parts) == 2 and parts[0] == "__pycache__" and parts[1].endswith(".pyc"):
                source = Path(str(distribution.locate_file(file)))
                if source.exists() and not (target / file).exists():
                    (target / file).symlink_to(source)


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


# ---------------------------------------------------------------- where the time goes


def import_profiles(server: AwsServer, *, staged: Staged, xray_daemon: str, task_id: str | None) -> dict[str, Any]:
    """`python -X importtime` of each API function's cold start (as deployed, and without the layer's
    .pyc), grouped by top-level package (self time), plus a cProfile of the first request as deployed."""
    profiles: dict[str, Any] = {}
    for route in ("create", "status"):
        function_dir, baseline_module, _ = ROUTES[route]
        for variant in (AS_DEPLOYED, VARIANTS[2]):
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
                "handler_imports_ms": _importtime_tree(sample["importtime"], "app"),
                "landmarks_ms": _importtime_cumulative(sample["importtime"], LANDMARKS),
            }
        profiled = _cold_start(
            server,
            AS_DEPLOYED,
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


def _importtime_tree(text: str, root: str, *, levels: int = 2, min_ms: float = 3.0) -> dict[str, float]:
    """What `root`'s own import lines cost (cumulative ms: the module and everything first imported under
    it), and one level below those, in import order; names indented by level, lines under min_ms left out."""
    lines = list(_importtime_lines(text))
    found = next((i for i, line in enumerate(lines) if line[3] == root), None)
    if found is None:
        return {}
    tree: list[tuple[str, float]] = []

    def walk(index: int, level: int) -> None:
        depth = lines[index][2]
        children: list[int] = []
        for j in range(index - 1, -1, -1):  # a module's imports are listed before it
            if lines[j][2] <= depth:
                break
            if lines[j][2] == depth + 2:
                children.append(j)
        for j in reversed(children):
            if lines[j][1] / 1000 >= min_ms:
                tree.append((f"{'  ' * (level - 1)}{lines[j][3]}", lines[j][1] / 1000))
                if level < levels:
                    walk(j, level + 1)

    walk(found, 1)
    return dict(tree)


def _importtime_cumulative(text: str, modules: Iterable[str]) -> dict[str, float]:
    """Cumulative ms of each of `modules`, wherever it was first imported (absent ones left out)."""
    cumulative = {module: us / 1000 for _, us, _, module in _importtime_lines(text)}
    return {module: cumulative[module] for module in modules if module in cumulative}


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
