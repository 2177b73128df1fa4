"""Secrets read from files, as Kubernetes mounts a Secret: ``<NAME>_FILE`` or a directory.

A value comes from the environment variable ``NAME``, else from the file named by ``NAME_FILE``,
else from ``$AGENTSMCP_SECRETS_DIR/NAME``. Setting both ``NAME`` and ``NAME_FILE`` is an error.
A file-backed value is re-read when it is used and its last read is older than the refresh
interval, so a rotated Secret reaches the running server without a restart (the kubelet swaps the
files of a Secret volume atomically).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

SECRETS_DIR_ENV = "AGENTSMCP_SECRETS_DIR"
FILE_SUFFIX = "_FILE"
# Larger files are refused: a secret is a key, not a document.
MAX_SECRET_BYTES = 64 * 1024


class SecretFileError(ValueError):
    """A secret file that must exist cannot be read. The message is ``VAR: problem``."""


def secret_paths(names: list[str], env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(``{NAME: path}`` for every file-backed secret, problems). A directory entry is listed even
    when its file does not exist yet, so a key added to the Secret later is picked up."""
    paths: dict[str, str] = {}
    problems: list[str] = []
    directory = env.get(SECRETS_DIR_ENV) or ""
    for name in names:
        file_var = name + FILE_SUFFIX
        file_path = env.get(file_var) or ""
        if file_path and env.get(name):
            problems.append(f"{file_var}: set either {name} or {file_var}, not both")
        elif file_path:
            paths[name] = file_path
        elif directory and not env.get(name):
            paths[name] = str(Path(directory) / name)
    return paths, problems


def read_secret_file(path: str, *, required: bool = False, name: str = "") -> str | None:
    """The file's text without the trailing newline, or None when it is absent or empty (an
    absent file is an error when ``required``)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SECRET_BYTES + 1)
    except FileNotFoundError:
        if required:
            raise SecretFileError(f"{name}: cannot read {path}: no such file") from None
        return None
    except OSError as exc:
        raise SecretFileError(f"{name}: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise SecretFileError(f"{name}: {path} is larger than {MAX_SECRET_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretFileError(f"{name}: {path} is not UTF-8 text") from None
    return text.rstrip("\r\n") or None


class RotatingSecret:
    """One secret value, re-read from its file at most every ``refresh_seconds`` on use.

    Without a file the initial value never changes. A file that is missing, empty or unreadable
    at a re-read yields None: callers decide whether to keep the last value (a key that must not
    disappear) or to drop it (the previous JWT key at the end of a rotation)."""

    def __init__(
        self,
        path: str | None,
        initial: str | None,
        refresh_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._value = initial
        self._refresh = refresh_seconds
        self._clock = clock
        self._read_at = clock()

    @property
    def path(self) -> str | None:
        return self._path

    def value(self) -> str | None:
        if self._path is not None and self._clock() - self._read_at >= self._refresh:
            self._read_at = self._clock()
            try:
                self._value = read_secret_file(self._path)
            except SecretFileError:
                self._value = None
        return self._value
