"""Package weight: each built function and the layer as `sam build` leaves them in .aws-sam/build
(unzipped, and deflated as Lambda stores a zip), and what dominates the layer: by distribution, by kind
of file (sources, bytecode, native code), its bytecode's invalidation mode, and anything in it that the
Lambda runtime already provides (boto3's closure)."""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from email.parser import Parser
from pathlib import Path
from typing import Any

from bench import deployed
from bench.common import ROOT

BUILD_DIR = deployed.BUILD_DIR
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA = re.compile(r"extra\s*==\s*['\"]([^'\"]+)['\"]")
_MACHINES = {62: "x86-64", 183: "arm64"}


def run() -> dict[str, Any]:
    if not BUILD_DIR.is_dir():
        return {"skipped": "no .aws-sam/build: run `make build` (or `make bench BENCH_BUILD=1`) first"}
    artifacts = {path.name: path for path in sorted(BUILD_DIR.iterdir()) if path.is_dir()}
    expected = set(deployed.template_code_dirs())
    stale = deployed.build_staleness()
    result: dict[str, Any] = {
        "build_dir": str(BUILD_DIR.relative_to(ROOT)),
        "missing_from_build": sorted(expected - set(artifacts)),
        "stale": bool(stale),
        "stale_reasons": stale,
        "artifacts": {},
    }
    for name, path in artifacts.items():
        files = [file for file in path.rglob("*") if file.is_file()]
        result["artifacts"][name] = {
            "files": len(files),
            "unzipped_bytes": sum(file.stat().st_size for file in files),
            "zipped_bytes": _zipped_size(path, files),
            "pyc_files": sum(1 for file in files if file.suffix == ".pyc"),
            "py_files": sum(1 for file in files if file.suffix == ".py"),
        }
    layers = [name for name in artifacts if (artifacts[name] / "python").is_dir()]
    runtime = deployed.runtime_distribution_names()
    result["layers"] = {}
    for name in layers:
        site = artifacts[name] / "python"
        requirements = site / "requirements.txt"
        if not requirements.exists() and name == deployed.LAYER_NAME:
            requirements = deployed.LAYER_REQUIREMENTS  # the Makefile build does not copy it into the layer
        layer = _by_distribution(site, requirements)
        layer["by_kind"] = _by_kind(site)
        layer["largest_subpackages"] = _largest_subpackages(site)
        layer["pyc"] = deployed.pyc_kinds(site)
        layer["native"] = [
            {
                "file": str(file.relative_to(site)),
                "bytes": file.stat().st_size,
                "machine": _MACHINES.get(deployed.elf_machine(file) or 0, "?"),
            }
            for file in deployed.native_files(site)
        ]
        layer["runtime_provided"] = [
            {"name": d["name"], "bytes": d["bytes"]}
            for d in layer["distributions"]
            if deployed.normalize(d["name"]) in runtime
        ]
        result["layers"][name] = layer
    return result


def _zipped_size(root: Path, files: list[Path]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.relative_to(root))
    return buffer.tell()


def _kind(file: Path, site: Path) -> str:
    if any(part.endswith(".dist-info") for part in file.relative_to(site).parts):
        return "metadata (dist-info)"
    if file.suffix in (".py", ".pyi"):
        return "sources (.py, .pyi)"
    if file.suffix == ".pyc":
        return "bytecode (.pyc)"
    if file.suffix == ".so" or ".so." in file.name:
        return "native (.so)"
    return "other"


def _by_kind(site: Path) -> dict[str, int]:
    sizes: dict[str, int] = defaultdict(int)
    for file in site.rglob("*"):
        if file.is_file():
            sizes[_kind(file, site)] += file.stat().st_size
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def _largest_subpackages(site: Path, top: int = 10) -> dict[str, int]:
    """Bytes under each subpackage of a top-level package (aws_lambda_powertools/utilities, pydantic/v1,
    ...); a package's own modules, their bytecode and native code count as `package/(modules)`."""
    sizes: dict[str, int] = defaultdict(int)
    for file in site.rglob("*"):
        parts = file.relative_to(site).parts
        if file.is_file() and len(parts) > 1 and not parts[0].endswith(".dist-info") and parts[0] != "__pycache__":
            own = len(parts) == 2 or parts[1] == "__pycache__"
            sizes[f"{parts[0]}/(modules)" if own else f"{parts[0]}/{parts[1]}"] += file.stat().st_size
    return dict(sorted(sizes.items(), key=lambda item: -item[1])[:top])


def _record_path(site: Path, path: str) -> Path:
    """A RECORD entry's file in `site`. Scripts are recorded as ../../bin/x (relative to a
    lib/pythonX.Y/site-packages that `pip install --target` does not have); they land in site/bin."""
    parts = Path(path).parts
    while parts and parts[0] == "..":
        parts = parts[1:]
    return site.joinpath(*parts) if parts else site


def _top_level(relative: Path) -> str:
    """The importable name a file belongs to: its top directory, or for __pycache__/x.cpython-313.pyc
    and x.py at the top, x."""
    parts = relative.parts
    if parts[0] == "__pycache__" and len(parts) == 2:
        return parts[1].split(".", 1)[0]
    return parts[0].removesuffix(".py") if len(parts) == 1 else parts[0]


def _by_distribution(site: Path, requirements: Path) -> dict[str, Any]:
    """Bytes per distribution (from each dist-info RECORD; bytecode compiled after the install goes to
    the distribution of its top-level name), who requires it, and what is left over."""
    wanted = _requirements(requirements)
    owner: dict[Path, str] = {}
    owner_of_top: dict[str, str] = {}
    requires: dict[str, list[str]] = {}
    for dist_info in site.glob("*.dist-info"):
        metadata = Parser().parsestr((dist_info / "METADATA").read_text(errors="replace"))
        name = str(metadata.get("Name", dist_info.name.split("-")[0]))
        requires[name] = []
        for raw in metadata.get_all("Requires-Dist") or []:
            extra = _EXTRA.search(raw)
            match = _REQUIREMENT_NAME.match(raw)
            if match and extra is None:
                requires[name].append(match[1])
            elif match and extra is not None and extra[1] in wanted.get(_key(name), set()):
                requires[f"{name}[{extra[1]}]"] = [*requires.get(f"{name}[{extra[1]}]", []), match[1]]
        record = dist_info / "RECORD"
        if record.exists():
            for line in record.read_text().splitlines():
                path = line.split(",", 1)[0]
                if path:
                    file = _record_path(site, path)
                    owner[file.resolve()] = name
                    if file.is_relative_to(site) and file != site:
                        owner_of_top.setdefault(_top_level(file.relative_to(site)), name)
    sizes: dict[str, int] = defaultdict(int)
    for file in site.rglob("*"):
        if file.is_file():
            top = _top_level(file.relative_to(site))
            sizes[owner.get(file.resolve()) or owner_of_top.get(top) or f"{top} (no dist-info)"] += file.stat().st_size
    required_by: dict[str, set[str]] = defaultdict(set)
    for requirement in wanted:
        required_by[requirement].add(requirements.name)
    for name, dependencies in requires.items():
        for dependency in dependencies:
            required_by[_key(dependency)].add(name)
    total = sum(sizes.values())
    return {
        "unzipped_bytes": total,
        "requirements": str(requirements.relative_to(ROOT)) if requirements.is_relative_to(ROOT) else str(requirements),
        "distributions": [
            {
                "name": name,
                "bytes": size,
                "share": size / total if total else 0.0,
                "required_by": sorted(required_by.get(_key(name), set())),
            }
            for name, size in sorted(sizes.items(), key=lambda item: -item[1])
        ],
    }


def _requirements(path: Path) -> dict[str, set[str]]:
    """Requirement name -> the extras asked for, from a requirements file (none if it is missing)."""
    wanted: dict[str, set[str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            requirement = _REQUIREMENT.match(line.split("#", 1)[0])
            if requirement:
                extras = {extra.strip() for extra in (requirement[2] or "").split(",") if extra.strip()}
                wanted[_key(requirement[1])] = extras
    return wanted


def _key(name: str) -> str:
    return deployed.normalize(name)
