"""Package weight: each built function and the layer as `sam build` leaves them in .aws-sam/build
(unzipped, and deflated as Lambda stores a zip), and what dominates the layer, by distribution."""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from email.parser import Parser
from pathlib import Path
from typing import Any

from bench.common import ROOT, TEMPLATE

BUILD_DIR = ROOT / ".aws-sam" / "build"
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA = re.compile(r"extra\s*==\s*['\"]([^'\"]+)['\"]")


def run() -> dict[str, Any]:
    if not BUILD_DIR.is_dir():
        return {"skipped": "no .aws-sam/build: run `make build` (or `make bench BENCH_BUILD=1`) first"}
    artifacts = {path.name: path for path in sorted(BUILD_DIR.iterdir()) if path.is_dir()}
    expected = _template_artifacts()
    result: dict[str, Any] = {
        "build_dir": str(BUILD_DIR.relative_to(ROOT)),
        "missing_from_build": sorted(expected - set(artifacts)),
        "stale": _stale(),
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
    result["layers"] = {name: _by_distribution(artifacts[name] / "python") for name in layers}
    return result


def _template_artifacts() -> set[str]:
    """Logical ids of the template's functions and layers (the directories sam build creates)."""
    names: set[str] = set()
    current: str | None = None
    for line in TEMPLATE.read_text().splitlines():
        resource = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if resource:
            current = resource[1]
        kind = re.match(r"^    Type: (AWS::Serverless::(Function|LayerVersion))\s*$", line)
        if kind and current:
            names.add(current)
    return names


def _stale() -> bool:
    """True when template.yaml, the layer or a function changed after the build."""
    built = BUILD_DIR / "template.yaml"
    if not built.exists():
        return True
    newest_source = max(
        file.stat().st_mtime
        for root in (ROOT / "layers", ROOT / "functions")
        for file in root.rglob("*.py")
        if "__pycache__" not in file.parts
    )
    return max(newest_source, TEMPLATE.stat().st_mtime) > built.stat().st_mtime


def _zipped_size(root: Path, files: list[Path]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.relative_to(root))
    return buffer.tell()


def _by_distribution(site: Path) -> dict[str, Any]:
    """Bytes per distribution (from each dist-info RECORD), who requires it, and what is left over."""
    wanted = _requirements(site / "requirements.txt")
    owner: dict[Path, str] = {}
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
                    owner[(site / path).resolve()] = name
    sizes: dict[str, int] = defaultdict(int)
    for file in site.rglob("*"):
        if file.is_file():
            top = file.relative_to(site).parts[0]
            sizes[owner.get(file.resolve(), f"{top} (no dist-info)")] += file.stat().st_size
    required_by: dict[str, set[str]] = defaultdict(set)
    for requirement in wanted:
        required_by[requirement].add("requirements.txt")
    for name, dependencies in requires.items():
        for dependency in dependencies:
            required_by[_key(dependency)].add(name)
    total = sum(sizes.values())
    return {
        "unzipped_bytes": total,
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
    return re.sub(r"[-_.]+", "-", name).lower()
