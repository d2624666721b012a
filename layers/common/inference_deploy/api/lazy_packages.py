"""Packages whose `__init__` only re-exports names of their submodules, imported without running it.

Importing `aws_lambda_powertools.event_handler.api_gateway` runs `event_handler/__init__.py` first, and
that imports every resolver Powertools has: AppSync (with asyncio), Bedrock agents, VPC Lattice, Lambda
function URLs... `utilities.data_classes/__init__.py` imports some forty event classes. The API functions
use one resolver and one event class, and paid for the rest on every cold start (about 35 ms).

`defer_reexports(name)` registers such a package as a module whose names are imported from their
submodule on first access (PEP 562 `__getattr__`), so `from package import Name` and imports of its
submodules behave as before, minus the submodules nobody asks for. It does so only when the package's
`__init__` consists of nothing but a docstring, `from ... import ...` of its own submodules and
`__all__`: anything else (a later version that sets state at import, say) and the package is left to
import as it always did. A package already imported is left as it is.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType


def defer_reexports(name: str) -> bool:
    """Register package `name` to import its re-exported names lazily; False where it was left alone."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        return False
    try:
        with open(spec.origin, encoding="utf-8") as source:
            exports = reexports(source.read(), name)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return False
    if exports is None:
        return False
    module = importlib.util.module_from_spec(spec)
    module.__getattr__ = _lazy_getattr(module, exports)  # type: ignore[method-assign]
    module.__dir__ = lambda: sorted({*vars(module), *exports})  # type: ignore[method-assign]
    module.__all__ = [export for export in exports if not export.startswith("_")]  # type: ignore[attr-defined]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return True


def reexports(source: str, package: str) -> dict[str, tuple[str, str]] | None:
    """{name: (submodule, its name there)} for an `__init__` that only re-exports from `package`'s own
    submodules; None when it does anything else."""
    exports: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # the docstring
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(target, ast.Name) and target.id == "__all__" for target in targets):
                continue
            return None
        if not isinstance(node, ast.ImportFrom) or node.module is None or node.level > 1:
            return None
        module = f"{package}.{node.module}" if node.level == 1 else node.module
        if not module.startswith(f"{package}."):
            return None
        for alias in node.names:
            if alias.name == "*":
                return None
            exports[alias.asname or alias.name] = (module, alias.name)
    return exports


def _lazy_getattr(module: ModuleType, exports: dict[str, tuple[str, str]]) -> Callable[[str], object]:
    def __getattr__(attribute: str) -> object:  # noqa: N807 - PEP 562's name
        if attribute not in exports:
            raise AttributeError(f"module {module.__name__!r} has no attribute {attribute!r}")
        submodule, name = exports[attribute]
        value = getattr(importlib.import_module(submodule), name)
        setattr(module, attribute, value)  # asked once: later reads find it in the module's namespace
        return value

    return __getattr__
