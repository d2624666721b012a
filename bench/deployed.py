"""What `sam build` produced in .aws-sam/build: whether it is current, what its bytecode is, and a copy of
it that runs on this machine (the layer's native extensions are Lambda's arm64 builds; the copy gets
this machine's build of the same distribution version beside them).

The layer is built by layers/common/Makefile (`BuildMethod: makefile`): the pinned wheels of
layers/common/requirements.txt with --no-deps (the Lambda runtime provides boto3 and botocore), the
service's inference_deploy package, minus what layers/common/prune.txt lists (what no function imports),
and hash-checked bytecode (`compileall --invalidation-mode
unchecked-hash`). The functions are their CodeUri's sources, without bytecode.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import LAYER_DIR, ROOT, TEMPLATE

BUILD_DIR = ROOT / ".aws-sam" / "build"
LAYER_NAME = "CommonLayer"
LAYER_BUILD = BUILD_DIR / LAYER_NAME / "python"
LAYER_REQUIREMENTS = LAYER_DIR / "requirements.txt"
LAYER_MAKEFILE = LAYER_DIR / "Makefile"
LAYER_PRUNE = LAYER_DIR / "prune.txt"
# The Lambda Python runtime ships boto3 and what it requires; nothing of it belongs in the layer.
RUNTIME_REQUIREMENTS = ("boto3",)

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")
_RESOURCE = re.compile(r"^  ([A-Za-z0-9]+):\s*$")
_CODE_URI = re.compile(r"^      (?:CodeUri|ContentUri):\s*(\S+)\s*$")
_ELF_MAGIC = b"\x7fELF"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path: Path = LAYER_REQUIREMENTS) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pins(path: Path = LAYER_REQUIREMENTS) -> dict[str, str]:
    """normalized name -> version of every `name==version` line (the layer is exactly these, --no-deps)."""
    found: dict[str, str] = {}
    for line in requirement_lines(path):
        match = _PIN.match(line)
        if match:
            found[normalize(match[1])] = match[2]
    return found


def closure(requirements: Iterable[str]) -> list[metadata.Distribution]:
    """Installed distributions of `requirements` and everything they require (extras and markers
    honoured), as pip resolved them into the venv."""
    from packaging.requirements import Requirement  # noqa: PLC0415 - a dev dependency, only needed here

    found: dict[str, metadata.Distribution] = {}
    pending = [Requirement(line) for line in requirements]
    while pending:
        requirement = pending.pop()
        key = normalize(requirement.name)
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


def runtime_distribution_names() -> set[str]:
    """Normalized names of what the Lambda runtime provides (boto3's closure, as the venv resolves it)."""
    return {normalize(d.metadata["Name"]) for d in closure(RUNTIME_REQUIREMENTS)}


def layer_distributions() -> list[metadata.Distribution]:
    """The venv's installs of the layer's pins, without their dependencies (as the Makefile installs them)."""
    return [metadata.distribution(name) for name in pins()]


def prune_patterns(path: Path = LAYER_PRUNE) -> list[str]:
    """The globs of layers/common/prune.txt (relative to the layer's python/), comments left out."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def prune(site: Path, patterns: Iterable[str] | None = None) -> list[str]:
    """Delete what the Makefile deletes from a layer's python/ directory (the same globs); return what went."""
    removed: list[str] = []
    for pattern in prune_patterns() if patterns is None else patterns:
        for path in sorted(site.glob(pattern)):
            removed.append(str(path.relative_to(site)))
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    return removed


def dist_infos(site: Path) -> dict[str, str]:
    """normalized name -> version of every *.dist-info in a site directory."""
    found: dict[str, str] = {}
    for dist_info in site.glob("*.dist-info"):
        meta = Parser().parsestr((dist_info / "METADATA").read_text(errors="replace"))
        found[normalize(str(meta["Name"]))] = str(meta["Version"])
    return found


# ---------------------------------------------------------------- is the build current?


def template_code_dirs() -> dict[str, Path]:
    """Logical id -> CodeUri/ContentUri directory of every function and layer in template.yaml."""
    dirs: dict[str, Path] = {}
    current: str | None = None
    for line in TEMPLATE.read_text().splitlines():
        resource = _RESOURCE.match(line)
        if resource:
            current = resource[1]
        uri = _CODE_URI.match(line)
        if uri and current:
            dirs[current] = ROOT / uri[1].strip("\"'")
    return dirs


def source_files(root: Path) -> dict[str, bytes]:
    """Relative path -> content of every file under root, bytecode excluded."""
    return {
        str(file.relative_to(root)): file.read_bytes()
        for file in sorted(root.rglob("*"))
        if file.is_file() and "__pycache__" not in file.parts and file.suffix != ".pyc"
    }


def _differences(what: str, sources: dict[str, bytes], built: dict[str, bytes]) -> list[str]:
    changed = sorted(path for path in sources.keys() & built.keys() if sources[path] != built[path])
    reasons = [f"{what}: {path} differs from the build" for path in changed]
    reasons += [f"{what}: {path} is not in the build" for path in sorted(sources.keys() - built.keys())]
    reasons += [f"{what}: {path} is only in the build" for path in sorted(built.keys() - sources.keys())]
    return reasons


def _build_time() -> float | None:
    built = BUILD_DIR / "template.yaml"  # sam build rewrites it on every build
    return built.stat().st_mtime if built.exists() else None


def layer_staleness() -> list[str]:
    """Why .aws-sam/build/CommonLayer/python is not what layers/common builds now (empty when current):
    its distributions must be exactly the pins of requirements.txt, its inference_deploy the same files
    as the sources', and the Makefile (what cannot be compared by content) older than the build."""
    if not LAYER_BUILD.is_dir():
        return [f"no {LAYER_BUILD.relative_to(ROOT)}"]
    reasons: list[str] = []
    wanted, built = pins(), dist_infos(LAYER_BUILD)
    for name in sorted(wanted.keys() | built.keys()):
        if wanted.get(name) != built.get(name):
            reasons.append(f"layer: {name} pinned {wanted.get(name) or '-'}, built {built.get(name) or '-'}")
    reasons += _differences(
        "layer", source_files(LAYER_DIR / "inference_deploy"), source_files(LAYER_BUILD / "inference_deploy")
    )
    built_at = _build_time()
    for recipe in (LAYER_MAKEFILE, LAYER_PRUNE):
        if built_at is None or recipe.stat().st_mtime > built_at:
            reasons.append(f"layer: {recipe.relative_to(ROOT)} changed after the build")
    return reasons


def function_staleness(logical_id: str, code_dir: Path) -> list[str]:
    """Why .aws-sam/build/<logical_id> is not the sources of `code_dir` (empty when current)."""
    built = BUILD_DIR / logical_id
    if not built.is_dir():
        return [f"no {built.relative_to(ROOT)}"]
    return _differences(logical_id, source_files(code_dir), source_files(built))


def build_staleness() -> list[str]:
    """Why the whole build is not current: template.yaml newer than it, or any artifact's sources."""
    built_at = _build_time()
    if built_at is None:
        return ["no .aws-sam/build/template.yaml"]
    reasons = ["template.yaml changed after the build"] if TEMPLATE.stat().st_mtime > built_at else []
    for logical_id, code_dir in template_code_dirs().items():
        if logical_id == LAYER_NAME:
            reasons += layer_staleness()
        else:
            reasons += function_staleness(logical_id, code_dir)
    return reasons


# ---------------------------------------------------------------- bytecode and native code


def pyc_kinds(site: Path) -> dict[str, int]:
    """Counts of the .pyc files under `site` by invalidation mode, and of those this Python can load
    (its magic number), and of .py files without a .pyc beside them (in __pycache__)."""
    counts = {"pyc": 0, "this_python": 0, "timestamp": 0, "checked_hash": 0, "unchecked_hash": 0, "py_without_pyc": 0}
    tag = sys.implementation.cache_tag
    for file in site.rglob("*.pyc"):
        with file.open("rb") as handle:
            header = handle.read(8)
        counts["pyc"] += 1
        counts["this_python"] += header[:4] == importlib.util.MAGIC_NUMBER
        flags = int.from_bytes(header[4:8], "little")
        counts["unchecked_hash" if flags == 0b01 else "checked_hash" if flags == 0b11 else "timestamp"] += 1
    for file in site.rglob("*.py"):
        if "__pycache__" not in file.parts and not (file.parent / "__pycache__" / f"{file.stem}.{tag}.pyc").exists():
            counts["py_without_pyc"] += 1
    return counts


def elf_machine(path: Path) -> int | None:
    """The ELF e_machine of a shared object (62 x86-64, 183 aarch64), None if it is not ELF."""
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != _ELF_MAGIC:
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def host_machine() -> int | None:
    return elf_machine(Path(sys.executable).resolve())


def native_files(site: Path) -> list[Path]:
    return sorted(file for file in site.rglob("*.so") if file.is_file())


def _owners(site: Path) -> dict[str, str]:
    """Relative path -> normalized distribution name, from every RECORD under `site`."""
    owners: dict[str, str] = {}
    for dist_info in site.glob("*.dist-info"):
        meta = Parser().parsestr((dist_info / "METADATA").read_text(errors="replace"))
        record = dist_info / "RECORD"
        if record.exists():
            for line in record.read_text().splitlines():
                path = line.split(",", 1)[0]
                if path:
                    owners[path] = normalize(str(meta["Name"]))
    return owners


def _host_build(distribution: metadata.Distribution, relative: Path) -> Path | None:
    """This machine's build, in the venv's `distribution`, of the extension module at `relative`."""
    stem = relative.name.split(".", 1)[0]
    machine = host_machine()
    for file in distribution.files or ():
        candidate = Path(str(file))
        if candidate.parent == relative.parent and candidate.name.split(".", 1)[0] == stem:
            located = Path(str(distribution.locate_file(file)))
            extension = any(candidate.name.endswith(suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES)
            if extension and located.is_file() and elf_machine(located) == machine:
                return located
    return None


class CannotRunHere(RuntimeError):
    """The build's native code has no counterpart for this machine in the venv."""


@dataclass
class LayerCopy:
    path: Path
    native_swapped: list[str] = field(default_factory=list)
    pyc: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"path": str(self.path.relative_to(ROOT)), "native_swapped": self.native_swapped, "pyc": self.pyc}


def copy_layer(target: Path, source: Path = LAYER_BUILD) -> LayerCopy:
    """Copy the built layer (bytecode and all) to `target`; beside each native extension built for another
    machine (Lambda's arm64), put this machine's build from the venv's install of the same distribution
    version, or raise CannotRunHere."""
    shutil.copytree(source, target, symlinks=True)
    copy = LayerCopy(target)
    machine = host_machine()
    owners = _owners(source)
    versions = dist_infos(source)
    for native in native_files(source):
        if elf_machine(native) == machine:
            continue
        relative = native.relative_to(source)
        owner = owners.get(str(relative))
        if owner is None:
            raise CannotRunHere(f"{relative}: no dist-info records it")
        try:
            installed = metadata.distribution(owner)
        except metadata.PackageNotFoundError as exc:
            raise CannotRunHere(f"{relative}: {owner} is not installed in the venv") from exc
        if installed.version != versions.get(owner):
            raise CannotRunHere(
                f"{relative}: the venv has {owner} {installed.version}, the build {versions.get(owner)}"
            )
        host = _host_build(installed, relative)
        if host is None:
            raise CannotRunHere(f"{relative}: the venv's {owner} {installed.version} has no build for this machine")
        shutil.copyfile(host, target / relative.parent / host.name)
        copy.native_swapped.append(f"{relative} -> {host.name} ({owner} {installed.version} from the venv)")
    copy.pyc = pyc_kinds(target)
    return copy
