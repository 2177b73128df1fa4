"""Fixtures for the validator's tests: a known-good rendered stack to break one field at a time,
and a runner for ``python -m validation`` in the tools virtualenv (where its validators live)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOOD_STACK = FIXTURES / "prod"
STACK = "prod"
TOOLS_PYTHON = REPO / ".venv-tools" / "bin" / "python"


@dataclass(frozen=True)
class ValidatorRun:
    returncode: int
    output: str


@pytest.fixture(scope="session")
def tools_python() -> Path:
    if not TOOLS_PYTHON.is_file():
        pytest.fail(f"{TOOLS_PYTHON} is missing: run `make tools` (a missing tool is never a skip)")
    return TOOLS_PYTHON


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    """A writable copy of the good stack at ``<returned dir>/prod``."""
    root = tmp_path / "manifests"
    shutil.copytree(GOOD_STACK, root / STACK)
    return root


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_yaml(path: Path, document: Any) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=True), encoding="utf-8")


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = read_yaml(path)
    change(document)
    write_yaml(path, document)


def object_file(manifests: Path, prefix: str) -> Path:
    pattern = prefix if prefix.endswith(".yaml") else f"{prefix}*.yaml"
    matches = sorted((manifests / STACK).glob(pattern))
    assert len(matches) == 1, f"expected one {prefix}* file, found {matches}"
    return matches[0]


@pytest.fixture
def run_validator(tools_python: Path) -> Callable[..., ValidatorRun]:
    def run(
        *args: str,
        manifests: Path | None = None,
        root: Path = REPO,
        metrics: bool = False,
        path: str | None = None,
    ) -> ValidatorRun:
        argv = [str(tools_python), "-m", "validation", "--root", str(root), "--stacks", STACK]
        if manifests is not None:
            argv += ["--manifests", str(manifests)]
        argv += ["--alert-tests", str(FIXTURES / "alert-tests")]
        if not metrics:
            argv += ["--exposed-metrics", str(FIXTURES / "metrics.txt")]
        env = dict(os.environ) if path is None else {**os.environ, "PATH": path}
        completed = subprocess.run(
            [*argv, *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return ValidatorRun(completed.returncode, completed.stdout + completed.stderr)

    return run
