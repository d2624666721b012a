"""The machine a run happened on, and the stdout tables of a run's results."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import ROOT

PACKAGES = (
    "boto3",
    "botocore",
    "aws-lambda-powertools",
    "aws-xray-sdk",
    "pydantic",
    "pydantic-core",
    "moto",
)
COLD_RATIO_LIMIT = 1.3
WARM_RATIO_LIMIT = 1.2
DEPLOYED = "service"  # the implementation the limits apply to; the others are diagnostic variants


def machine() -> dict[str, Any]:
    cpu_model = ""
    with _suppressed_os_error():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with _suppressed_os_error():
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    # SAM CLI lives in its own venv (.tools/sam): read its version from there.
    sam = sorted(ROOT.glob(".tools/sam/lib/python*/site-packages/aws_sam_cli-*.dist-info"))
    versions["aws-sam-cli"] = sam[-1].name.removeprefix("aws_sam_cli-").removesuffix(".dist-info") if sam else None
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model or platform.processor(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": versions,
        "git": _git(),
    }


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        completed = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return completed.stdout.strip()

    changed = [line for line in git("status", "--porcelain").splitlines() if line]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_paths": len(changed)}


class _suppressed_os_error:  # noqa: N801 - used like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        return exc_type is not None and issubclass(exc_type, OSError)


# ---------------------------------------------------------------- tables


def table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]], note: str = "") -> str:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = [f"\n== {title}"]
    if note:
        lines.append(note)
    lines.append(
        "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    )
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(results: Mapping[str, Any]) -> str:
    parts = [_header(results)]
    sections = results["sections"]
    for name, renderer in (
        ("cold_start", _cold),
        ("warm", _warm),
        ("history", _history),
        ("rollout", _rollout),
        ("package_weight", _package),
        ("local_e2e", _local),
    ):
        section = sections.get(name)
        if section is None:
            continue
        if "error" in section:
            parts.append(f"\n== {name}: FAILED\n{section['error']}")
        elif "skipped" in section:
            parts.append(f"\n== {name}: skipped - {section['skipped']}")
        else:
            parts.append(renderer(section))
    poor = results.get("poor_ratios") or []
    parts.append("\n== Ratios past the limits, service as deployed (cold > 1.3x, warm > 1.2x the baseline)")
    parts.extend(f"  {line}" for line in poor) if poor else parts.append("  none")
    parts.append("\n== Run time of each section (s)")
    parts.extend(f"  {name:<16}{seconds:8.1f}" for name, seconds in results["section_seconds"].items())
    return "\n".join(parts)


def _header(results: Mapping[str, Any]) -> str:
    m = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    return (
        f"bench size={results['size']['name']}  {m['nproc']} CPU ({m['cpu_model']}), {m['memory_gb']} GB, "
        f"Python {m['python']}\n{packages}\ngit {m['git']['commit']} (+{m['git']['uncommitted_paths']} uncommitted)"
    )


def _cold(section: Mapping[str, Any]) -> str:
    rows = []
    for data in section["routes"].values():
        for key, v in data["median"].items():
            rows.append(
                (
                    f"{data['route']} / {key}",
                    v["total_ms"],
                    v["interpreter_ms"],
                    v["import_ms"],
                    v["first_request_ms"],
                    v["ratio_total"],
                    (v.get("ratio_total_by_round") or {}).get("median"),
                    v["ratio_import"],
                    v.get("cpu_ms"),
                    v.get("ratio_cpu"),
                    v["max_rss_mb"],
                    v["modules_imported"],
                )
            )
    deployed = section.get("as_deployed") or {}
    notes = [f"service = {deployed.get('label', 'as deployed')}"]
    if deployed.get("stale"):
        notes.append(
            "  why not the build: " + "; ".join(deployed["stale"][:4]) + (" ..." if len(deployed["stale"]) > 4 else "")
        )
    notes.append(
        "service_nopyc = the same without the layer's .pyc; service_tracer = with the X-Ray SDK Tracer; "
        "baseline = boto3-only handler, same AWS calls"
    )
    notes.append(
        "x round = median of the rounds' own ratios (each round runs every implementation once, in turns); "
        "CPU = the child's CPU time (ms), less disturbed by other processes than wall time"
    )
    notes.extend(_cold_checks(section))
    parts = [
        table(
            f"1. Cold start: process start -> first response, median of {section['runs_per_variant']} runs (ms)",
            (
                "route / implementation",
                "total",
                "python",
                "import",
                "1st req",
                "x base",
                "x round",
                "x import",
                "CPU",
                "x CPU",
                "RSS MB",
                "modules",
            ),
            rows,
            note="\n".join(notes),
        )
    ]
    profiles = section.get("import_profile") or {}
    columns = [key for key in ("create_task/service", "read_task/service") if key in profiles]
    if columns:
        by_package = [profiles[key]["import_ms_by_package"] for key in columns]
        names = [name for name in by_package[0] if not name.startswith("(")]
        names += [name for other in by_package[1:] for name in other if name not in names and not name.startswith("(")]
        names += ["(other)", "(total)"]
        parts.append(
            table(
                "   Import time by top-level package, as deployed (python -X importtime, self ms, one run)",
                ("package", *columns),
                ((name, *(values.get(name) for values in by_package)) for name in names),
            )
        )
        landmarks = [profiles[key].get("landmarks_ms") or {} for key in columns]
        names = list(dict.fromkeys(name for values in landmarks for name in values))
        parts.append(
            table(
                "   Whole imports, wherever first imported (cumulative ms, as deployed, one run)",
                ("module", *columns),
                ((name, *(values.get(name) for values in landmarks)) for name in names),
                note="boto3 is the baseline's cost too; the rest is the service's (nested ones overlap)",
            )
        )
        for key in columns:
            imports = profiles[key].get("handler_imports_ms") or {}
            parts.append(
                table(
                    f"   {key.split('/')[0]}: what each import in app.py costs, as deployed (cumulative ms, one run)",
                    ("import (and, indented, its own imports)", "ms"),
                    imports.items(),
                    note=(
                        "cumulative = the module and everything first imported under it, so a package shared by two "
                        "lines counts under the first (-X importtime inflates all of it)"
                    )
                    if key == columns[0]
                    else "",
                )
            )
    return "\n".join(parts)


def _cold_checks(section: Mapping[str, Any]) -> list[str]:
    """One line on what every child was checked for (bench.cold_start._checks)."""
    checks = section.get("checks") or {}
    service = checks.get("read_task/service") or checks.get("create_task/service")
    nopyc = checks.get("read_task/service_nopyc") or checks.get("create_task/service_nopyc")
    if not service:
        return []
    layer = service["bytecode"].get("layer", {})
    line = (
        f"checked in every child: botocore from the {service['origins'].get('botocore')} dir, the layer's packages "
        f"from the layer; X-Ray patched {', '.join(service.get('xray_patched') or []) or 'nothing'}; "
        f"layer modules loaded with .pyc: {layer.get('with_pyc')}/{layer.get('modules')}"
    )
    if nopyc:
        line += f" as deployed, {nopyc['bytecode']['layer']['with_pyc']}/{nopyc['bytecode']['layer']['modules']} nopyc"
    return [line]


def _warm(section: Mapping[str, Any]) -> str:
    rows = []
    for data in section["routes"].values():
        for key in data["stub"]:
            stub, server = data["stub"][key], data["server"][key]
            rows.append(
                (
                    f"{data['route']} / {key}",
                    stub["p50"],
                    stub["p99"],
                    stub["ratio_p50"],
                    stub["overhead_p50_ms"],
                    server["p50"],
                    server["p99"],
                    server["ratio_p50"],
                    server["ratio_p99"],
                )
            )
    drift = section.get("baseline_drift") or []
    note = "stub = botocore answers with recorded bytes (handler + SDK only); server = emulated AWS over loopback"
    if drift:
        note += "\nBASELINE DRIFT (the baseline makes other calls than the service): " + "; ".join(drift)
    return table(
        "2. Warm requests (ms)",
        ("route / implementation", "stub p50", "stub p99", "x base", "+ms p50", "srv p50", "srv p99", "x p50", "x p99"),
        rows,
        note=note,
    )


def _history(section: Mapping[str, Any]) -> str:
    rows = [
        (
            row["earlier_tasks_of_model"],
            row["table_items"],
            row["queries_per_read"],
            row["count"],
            row["scanned_count"],
            (row.get("consumed_capacity_moto") or {}).get("CapacityUnits"),
            row["read_request_units_dynamodb_rule"],
            row["item_bytes_read"],
            row["service_ms"]["p50"],
            row["baseline_ms"]["p50"],
        )
        for row in section["rows"]
    ]
    seeding = section["seeding"]
    return table(
        "3. GET /deploy-status/{model} as history grows",
        ("earlier tasks", "items", "queries", "Count", "Scanned", "moto CU", "RRU", "bytes", "svc p50", "base p50"),
        rows,
        note=(
            f"seeded {seeding['items']:,} items in {seeding['seconds']:.1f} s ({seeding['method']}); "
            "latency is moto's (it scans the table for a GSI query), not DynamoDB's"
        ),
    )


def _rollout(section: Mapping[str, Any]) -> str:
    metrics = (
        ("state_transitions", "state transitions"),
        ("lambda_invocations", "Lambda invocations"),
        ("sagemaker_calls", "SageMaker calls"),
        ("dynamodb_calls", "DynamoDB calls"),
        ("dynamodb_write_units", "DynamoDB write units"),
        ("dynamodb_read_units", "DynamoDB read units"),
        ("lambda_gb_seconds_assumed", "Lambda GB-s (assumed)"),
    )
    rows = []
    for kind, data in section["formulas"].items():
        formula = data["formula"]
        for metric, label in metrics:
            terms = formula[metric]
            by_minutes = data["by_creation_minutes"]
            rows.append(
                (
                    f"{kind}: {label}",
                    terms["fixed"],
                    terms["per_round"],
                    *(by_minutes[m]["counts"][metric] for m in sorted(by_minutes, key=int)),
                )
            )
    costs = []
    for kind, data in section["formulas"].items():
        priced_rows = [(f"{r} fallback rounds (measured)", p) for r, p in data["at_measured_rounds"].items()]
        for minutes, priced in sorted(data["by_creation_minutes"].items(), key=lambda item: int(item[0])):
            priced_rows.append((f"{minutes} min creation, {priced['rounds']} fallback rounds", priced))
        for minutes, priced in sorted(data["old_poll_loop_by_creation_minutes"].items(), key=lambda item: int(item[0])):
            priced_rows.append((f"{minutes} min creation, old 30 s poll loop", priced))
        for label, priced in priced_rows:
            usd = priced["usd_per_1000"]
            costs.append(
                (
                    f"{kind} @ {label}",
                    usd["step_functions"],
                    usd["lambda_requests"],
                    usd["lambda_duration_measured"],
                    usd["lambda_duration_assumed"],
                    usd["dynamodb"],
                    usd["total_assumed"],
                )
            )
    delete = section.get("delete")
    if delete:
        usd = delete["usd_per_1000"]
        costs.append(
            (
                f"delete @ {delete['poll_rounds']} rounds",
                usd["step_functions"],
                usd["lambda_requests"],
                usd["lambda_duration_measured"],
                usd["lambda_duration_assumed"],
                usd["dynamodb"],
                usd["total_assumed"],
            )
        )
    return "\n".join(
        (
            table(
                "4. A rollout in AWS terms: fixed + per_round x fallback rounds (incl. the POST /deploy Lambda)",
                ("task: count", "fixed", "per round", *(f"@{m} min" for m in ("1", "5", "10"))),
                rows,
            ),
            table(
                "   US dollars per 1,000 tasks (us-east-1 list prices)",
                ("task @ creation", "SFN", "λ req", "λ GB-s meas", "λ GB-s assumed", "DynamoDB", "total"),
                costs,
                note=(
                    f"Lambda GB-s: measured = in-process against moto (a floor); assumed = measured + "
                    f"{section['assumed_call_ms']:.0f} ms per AWS call; total uses assumed"
                    + _switch_delay(section.get("in_service_to_switch_s"))
                ),
            ),
            _all_in(section),
            *_embedding_guard(section.get("embedding_guard")),
        )
    )


ALL_IN_COLUMNS = (
    ("step_functions", "SFN"),
    ("lambda_requests", "λ req"),
    ("lambda_duration", "λ run"),
    ("lambda_init", "λ INIT"),
    ("dynamodb", "DDB"),
    ("task_events_put_events", "PutEvents"),
    ("task_events_publisher", "publisher"),
    ("xray", "X-Ray"),
    ("api_gateway", "API GW"),
    ("cloudwatch_api", "CW API"),
    ("cloudwatch_alarms", "alarms"),
    ("total", "total"),
)


def _all_in(section: Mapping[str, Any]) -> str:
    by_kind = section.get("all_in_by_creation_minutes") or {}
    rows = [
        (f"{kind} @ {minutes} min creation", *(priced["usd_per_1000"][key] for key, _ in ALL_IN_COLUMNS))
        for kind, by_minutes in by_kind.items()
        for minutes, priced in sorted(by_minutes.items(), key=lambda item: int(item[0]))
    ]
    if not rows:
        return ""
    adds = section.get("bake_adds_usd_per_1000", {}).get("10")
    note = "assumptions: results.json rollout.all_in_assumptions (bench/README.md)"
    if adds:
        note += (
            f"; a bake adds ${adds['workflow']:.4f} per 1,000 in workflow costs, ${adds['alarms']:.3f} in alarms"
            f" by the started hour (${adds.get('alarms_prorated', 0):.3f} prorated to a 10-minute bake)"
        )
    watched = section.get("bake_with_green_alarms_adds_usd_per_1000", {}).get("10")
    if watched:
        note += (
            f"; a bake with green_alarms adds ${watched['workflow']:.4f} in workflow costs, ${watched['alarms']:.3f}"
            f" in alarms (${watched.get('alarms_prorated', 0):.3f} prorated)"
        )
    return table(
        "   All-in US dollars per 1,000 tasks (us-east-1 list prices, every assumption in results.json)",
        ("task @ creation", *(label for _, label in ALL_IN_COLUMNS)),
        rows,
        note=note,
    )


def _embedding_guard(guard: Mapping[str, Any] | None) -> list[str]:
    if not guard:
        return []
    counts, usd = guard["counts"], guard["usd_per_1000"]
    share = guard.get("share_of_redeploy")
    return [
        table(
            f"   What the embedding-compatibility guard adds to a redeploy ({guard.get('probe_texts')} default "
            "probes, per task)",
            ("transitions", "λ invocations", "InvokeEndpoint", "figures ms", "λ ms assumed", "$ / 1,000 tasks"),
            [
                (
                    counts["state_transitions"],
                    counts["lambda_invocations"],
                    counts["invoke_endpoint_calls"],
                    counts["figures_math_ms"],
                    counts["lambda_ms_assumed"],
                    usd["total_assumed"],
                )
            ],
            note=(f"{share:.1%} of a redeploy's total; " if share is not None else "")
            + f"λ ms assumed = the figures' math + {guard['assumed_invoke_ms']:.0f} ms per InvokeEndpoint; "
            "SageMaker bills instance hours, not calls: green runs that much longer before the switch",
        )
    ]


def _switch_delay(delay: Mapping[str, Any] | None) -> str:
    if not delay:
        return ""
    return (
        f". Green InService -> SwitchTraffic: median {delay['median']:.2f} s, max {delay['max']:.2f} s over "
        f"{delay['runs']} deploys (local: the event hop is a thread, PrepareGreen included)"
    )


def _package(section: Mapping[str, Any]) -> str:
    rows = [
        (name, a["files"], a["unzipped_bytes"] / 1e6, a["zipped_bytes"] / 1e6, a["py_files"], a["pyc_files"])
        for name, a in section["artifacts"].items()
    ]
    notes = []
    if section.get("stale"):
        reasons = section.get("stale_reasons") or []
        notes.append(
            "STALE build: sources changed after it (`make build`): "
            + "; ".join(reasons[:4])
            + (" ..." if len(reasons) > 4 else "")
        )
    if section.get("missing_from_build"):
        notes.append(f"Missing: {', '.join(section['missing_from_build'])}.")
    out = [
        table(
            "5. Package weight (.aws-sam/build; MB = 10^6 bytes)",
            ("artifact", "files", "MB", "zip MB", ".py", ".pyc"),
            rows,
            note="\n".join(notes),
        )
    ]
    for name, layer in section["layers"].items():
        pyc = layer.get("pyc") or {}
        runtime = layer.get("runtime_provided") or []
        native = layer.get("native") or []
        note = [
            f"{layer['unzipped_bytes'] / 1e6:.1f} MB; .pyc: {pyc.get('pyc', 0)} "
            f"({pyc.get('unchecked_hash', 0)} unchecked-hash, {pyc.get('this_python', 0)} loadable by this Python), "
            f"{pyc.get('py_without_pyc', 0)} .py without one",
            "native: "
            + (", ".join(f"{n['file']} ({n['bytes'] / 1e6:.1f} MB, {n['machine']})" for n in native) or "none"),
            "also in the Lambda runtime: "
            + (", ".join(f"{d['name']} ({d['bytes'] / 1e6:.2f} MB)" for d in runtime) or "nothing"),
        ]
        out.append(
            table(
                f"   {name}: what dominates, by distribution",
                ("distribution", "MB", "share", "required by"),
                (
                    (d["name"], d["bytes"] / 1e6, d["share"], ", ".join(d["required_by"]) or "-")
                    for d in layer["distributions"][:10]
                ),
                note="\n".join(note),
            )
        )
        kinds = layer.get("by_kind") or {}
        subpackages = layer.get("largest_subpackages") or {}
        out.append(
            table(
                f"   {name}: by kind of file, and the largest subpackages",
                ("kind / subpackage", "MB", "share"),
                [
                    *((kind, size / 1e6, size / layer["unzipped_bytes"]) for kind, size in kinds.items()),
                    *((sub, size / 1e6, size / layer["unzipped_bytes"]) for sub, size in subpackages.items()),
                ],
            )
        )
    return "\n".join(out)


def _local(section: Mapping[str, Any]) -> str:
    rows = [
        ("startup (spawn -> ready banner)", section["startup_s"], section.get("startup_reported_s"), None),
        (
            "POST /deploy -> succeeded",
            section["deploy"]["wall_s"],
            section["deploy"]["wait_states_s"],
            section["deploy"]["wall_minus_waits_s"],
        ),
        (
            "POST /delete -> succeeded",
            section["delete"]["wall_s"],
            section["delete"]["wait_states_s"],
            section["delete"]["wall_minus_waits_s"],
        ),
    ]
    return table(
        "6. Local end to end (`python -m local_stack run`)",
        ("", "wall s", "waits s", "wall - waits"),
        rows,
        note=(
            "waits = time in Wait states (the run's GreenPollSeconds=1, DrainSeconds=1); "
            "for startup, the second column is what the stack reports itself"
        ),
    )


def poor_ratios(sections: Mapping[str, Any]) -> list[str]:
    """The service as deployed (not the diagnostic variants: without .pyc, with the Tracer) past the limits."""
    found = []
    cold = sections.get("cold_start") or {}
    for data in (cold.get("routes") or {}).values():
        for key, values in data["median"].items():
            if key == DEPLOYED and values["ratio_total"] > COLD_RATIO_LIMIT:
                found.append(f"cold start {data['route']} / {key}: {values['ratio_total']:.2f}x")
    warm = sections.get("warm") or {}
    for data in (warm.get("routes") or {}).values():
        for mode in ("stub", "server"):
            for key, values in data[mode].items():
                if key == DEPLOYED and values["ratio_p50"] > WARM_RATIO_LIMIT:
                    found.append(f"warm {mode} {data['route']} / {key}: p50 {values['ratio_p50']:.2f}x")
    return found
