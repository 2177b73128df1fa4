"""scripts/deploy.sh with fake pulumi/kubectl/docker: what it reports missing, what it calls."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "deploy.sh"
BASH = shutil.which("bash") or "/bin/bash"


def _tool(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!{BASH}\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    for utility in ("dirname", "bash"):
        found = shutil.which(utility)
        assert found is not None
        (directory / utility).symlink_to(found)
    return directory


def _deploy(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(bin_dir), "HOME": str(bin_dir.parent), "VENV": str(ROOT / ".venv")}
    return subprocess.run(
        [BASH, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_names_every_missing_prerequisite(bin_dir: Path) -> None:
    result = _deploy(bin_dir, "dev")
    assert result.returncode == 1
    assert "pulumi CLI" in result.stderr
    assert "kubectl" in result.stderr
    assert "docker engine" in result.stderr


def test_names_a_missing_context_and_a_stopped_engine(bin_dir: Path) -> None:
    _tool(bin_dir, "pulumi", "exit 0")
    _tool(bin_dir, "kubectl", "exit 1")
    _tool(bin_dir, "docker", "exit 1")
    result = _deploy(bin_dir, "dev")
    assert result.returncode == 1
    assert "pulumi CLI" not in result.stderr
    assert "a kubectl context" in result.stderr
    assert "a running docker engine" in result.stderr


def test_unknown_stack(bin_dir: Path) -> None:
    result = _deploy(bin_dir, "qa")
    assert result.returncode == 2
    assert "no Pulumi.qa.yaml" in result.stderr
    assert "dev prod staging" in result.stderr


def test_logs_in_locally_creates_the_stack_and_runs_up(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "pulumi.log"
    _tool(
        bin_dir,
        "pulumi",
        f'echo "$*" >> {log}\n'
        'case "$1 $2" in\n'
        '  "whoami "*) exit 1 ;;\n'
        '  "stack select") exit 1 ;;\n'
        "esac\n"
        "exit 0",
    )
    _tool(bin_dir, "kubectl", 'if [ "$1 $2" = "config current-context" ]; then echo kind-test; fi')
    _tool(bin_dir, "docker", "exit 0")
    result = _deploy(bin_dir, "staging")
    assert result.returncode == 0, result.stderr
    assert "kubectl context 'kind-test'" in result.stdout
    calls = log.read_text(encoding="utf-8").splitlines()
    assert calls == [
        "whoami",
        "login --local",
        "stack select staging",
        "stack init staging --secrets-provider passphrase",
        "up --stack staging",
    ]
