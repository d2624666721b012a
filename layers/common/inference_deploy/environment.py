"""Where the service reads its environment variables: the process environment, as in Lambda, unless a
host running several functions in one process (the local stack) hands each invocation its own
function's variables through `FUNCTION_ENVIRONMENT`, a context variable (so threads never mix them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar

FUNCTION_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("function_environment", default=None)


def environment() -> Mapping[str, str]:
    """The running function's variables."""
    return FUNCTION_ENVIRONMENT.get() or os.environ


def getenv(name: str, default: str) -> str:
    return environment().get(name, default)
