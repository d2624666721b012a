"""Reversible, reference-counted replacement of a method on a (moto) class.

Moto keeps one backend instance per account and region, created lazily and shared by every thread
(including the threads of an in-process moto server), so the only patch point that reaches all of
them is the backend class itself. Several emulators may be active at once (nested test fixtures, a
server plus an in-process mock), so the class is restored only when the last user releases it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

type Method = Callable[..., Any]


class MethodPatch:
    """Swaps `owner.name` for `make_replacement(original)` while at least one user holds it."""

    def __init__(self, owner: type, name: str, make_replacement: Callable[[Method], Method]) -> None:
        self._owner = owner
        self._name = name
        self._make_replacement = make_replacement
        self._lock = threading.Lock()
        self._users = 0
        self._own_original: Method | None = None

    @property
    def active(self) -> bool:
        return self._users > 0

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                original: Any = getattr(self._owner, self._name, None)  # None: a method moto lacks, added while held
                self._own_original = self._owner.__dict__.get(self._name)
                setattr(self._owner, self._name, self._make_replacement(original))
            self._users += 1

    def release(self) -> None:
        with self._lock:
            if self._users == 0:
                raise RuntimeError(f"{self._owner.__name__}.{self._name} released more often than acquired")
            self._users -= 1
            if self._users == 0:
                if self._own_original is None:
                    delattr(self._owner, self._name)
                else:
                    setattr(self._owner, self._name, self._own_original)
                self._own_original = None


class Lifecycle:
    """`start()`/`stop()` that also work as a context manager."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PatchSet(Lifecycle):
    """Holds a group of MethodPatches while started (released in reverse order)."""

    patches: tuple[MethodPatch, ...] = ()

    def __init__(self) -> None:
        self._started = False

    def start(self) -> None:
        if not self._started:
            for patch in self.patches:
                patch.acquire()
            self._started = True

    def stop(self) -> None:
        if self._started:
            for patch in reversed(self.patches):
                patch.release()
            self._started = False
