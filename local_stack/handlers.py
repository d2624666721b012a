"""Importing Lambda handlers from their code directories.

Handlers are imported by module name (`create_task.app`) so a test that imports the module and the
emulator that invokes it share one module object (and its caches and monkeypatches). When the code
directory's parent is not on sys.path (fixture projects, tests), its package is registered from the
directory itself instead of editing sys.path.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

type Handler = Callable[[Any, Any], Any]

_import_lock = threading.RLock()


class HandlerImportError(ImportError):
    """The handler module or function cannot be loaded (Lambda's Runtime.ImportModuleError)."""


def import_handler(code_dir: Path, module_name: str, attribute: str) -> Handler:
    """Return `module_name.attribute`, with `module_name`'s top package living in `code_dir`."""
    with _import_lock:
        _ensure_package(code_dir)
        module = importlib.import_module(module_name)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise AttributeError(f"Handler '{attribute}' missing on module '{module_name}'")
    return handler  # type: ignore[no-any-return]


def import_handler_copy(code_dir: Path, module_name: str, attribute: str, copy: int) -> Handler:
    """`module_name.attribute` from a separate import of the module (its own module-level state), as a
    second Lambda execution environment has it; the same copy number gives the same module again."""
    name = f"{module_name}__environment_{copy}"
    with _import_lock:
        module = sys.modules.get(name)
        if module is None:
            _ensure_package(code_dir)
            original = importlib.util.find_spec(module_name)
            if original is None or original.origin is None:
                raise ModuleNotFoundError(f"No module named {module_name!r}", name=module_name)
            spec = importlib.util.spec_from_file_location(name, original.origin)
            if spec is None or spec.loader is None:
                raise HandlerImportError(f"cannot load {module_name!r} from {original.origin}")
            module = importlib.util.module_from_spec(spec)
            # Registered under its own name: pydantic and typing resolve annotations through sys.modules.
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise AttributeError(f"Handler '{attribute}' missing on module '{module_name}'")
    return handler  # type: ignore[no-any-return]


def _ensure_package(code_dir: Path) -> None:
    package = code_dir.name
    code_dir = code_dir.resolve()
    loaded = sys.modules.get(package)
    if loaded is not None:
        _check_location(loaded, code_dir)
        return
    spec = importlib.util.find_spec(package)
    if spec is not None:
        locations = [Path(p).resolve() for p in spec.submodule_search_locations or ()]
        if code_dir not in locations:
            raise HandlerImportError(f"package {package!r} resolves to {locations}, not to {code_dir}")
        return
    if not code_dir.is_dir():
        raise HandlerImportError(f"code directory {code_dir} does not exist")
    init = code_dir / "__init__.py"
    if init.exists():
        spec = importlib.util.spec_from_file_location(package, init, submodule_search_locations=[str(code_dir)])
    else:
        spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
        spec.submodule_search_locations = [str(code_dir)]
    if spec is None:
        raise HandlerImportError(f"cannot load package {package!r} from {code_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[package]
        raise


def _check_location(module: ModuleType, code_dir: Path) -> None:
    locations = [Path(p).resolve() for p in getattr(module, "__path__", ())]
    if code_dir not in locations:
        raise HandlerImportError(f"package {module.__name__!r} is already loaded from {locations}, not {code_dir}")
