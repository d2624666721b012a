"""One botocore data loader for every boto3 session made while the in-process emulator runs.

A session reads the service models and endpoint rules (botocore's JSON files, a few MB) for the first
client of each service it builds. Tests make new sessions all the time: the project's clients are
forgotten between emulated accounts (adapters/aws.py `reset_clients`) and each emulator builds its own,
so every test re-read and re-parsed the same files (about a third of the component tests' CPU). Those
files do not change while a process runs, so while `SharedServiceModels` is held every session gets the
one loader of its data path, which caches them. It changes where the models come from, nothing about
the clients: credentials, region, endpoints and configuration stay per session.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

import botocore.session
from botocore.loaders import Loader, create_loader

from local_stack._patch import Lifecycle


class _SearchPaths(list[str]):
    """boto3 appends its own data directory to the loader of each new session: once is enough."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)

    def extend(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.append(path)


_lock = threading.Lock()
_loaders: dict[str | None, Loader] = {}


def shared_loader(data_path: str | None = None) -> Loader:
    """The process's loader for `data_path` (AWS_DATA_PATH; None for botocore's own directories), with
    the search paths botocore's `create_loader` would give it."""
    with _lock:
        if data_path not in _loaders:
            extra = [] if data_path is None else data_path.split(os.pathsep)
            paths = _SearchPaths(os.path.expanduser(os.path.expandvars(path)) for path in extra)
            _loaders[data_path] = Loader(extra_search_paths=paths)
        return _loaders[data_path]


class _LoaderHook:
    """botocore.session's `create_loader` swapped for `shared_loader` while anyone holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                setattr(botocore.session, "create_loader", shared_loader)  # noqa: B010 (no stub names it)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                setattr(botocore.session, "create_loader", create_loader)  # noqa: B010


_HOOK = _LoaderHook()


class SharedServiceModels(Lifecycle):
    """While started, sessions created in this process share `shared_loader`'s loaders. Reference-counted
    like the moto patches: emulators may start and stop in any order, the last one out restores botocore."""

    def __init__(self) -> None:
        self._started = False

    def start(self) -> None:
        if not self._started:
            _HOOK.acquire()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._started = False
            _HOOK.release()
