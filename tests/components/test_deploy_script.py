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
        "stack output --stack organization/agentsmcp-cluster/staging --json",
        "stack select staging",
        "stack init staging --secrets-provider passphrase",
        "up --stack staging",
    ]


def _working_tools(bin_dir: Path, log: Path, pulumi_body: str = "exit 0") -> None:
    _tool(bin_dir, "pulumi", f'echo "$PWD $*" >> {log}\n{pulumi_body}')
    _tool(bin_dir, "kubectl", 'if [ "$1 $2" = "config current-context" ]; then echo kind-test; fi')
    _tool(bin_dir, "docker", "exit 0")


def test_names_the_missing_local_registry_and_the_command_that_creates_it(
    bin_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "pulumi.log"
    _working_tools(bin_dir, log)
    result = _deploy(bin_dir, "dev")  # nothing listens on localhost:5001 on a test machine
    assert result.returncode == 1
    assert "a registry at localhost:5001" in result.stderr
    assert "make local-cluster" in result.stderr
    assert not log.exists()


def test_a_missing_cluster_stack_stops_before_up(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "pulumi.log"
    _working_tools(bin_dir, log, 'if [ "$1 $2" = "stack output" ]; then exit 1; fi\nexit 0')
    result = _deploy(bin_dir, "prod")
    assert result.returncode == 1
    assert (
        "cluster stack organization/agentsmcp-cluster/prod (agentsmcp:cluster.stack) is not "
        "deployed; deploy it first: make deploy-cluster CLUSTER_STACK=prod"
    ) in result.stderr
    calls = log.read_text(encoding="utf-8").splitlines()
    assert (
        calls[-1]
        == f"{ROOT / 'cluster'} stack output --stack organization/agentsmcp-cluster/prod --json"
    )
    assert not any(" up " in f" {call} " for call in calls)


def test_deploys_a_cluster_stack_from_the_cluster_project(bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "pulumi.log"
    _working_tools(bin_dir, log)
    result = _deploy(bin_dir, "--cluster", "local")
    assert result.returncode == 0, result.stderr
    calls = log.read_text(encoding="utf-8").splitlines()
    assert calls[-1] == f"{ROOT / 'cluster'} up --stack local"
    assert "make deploy STACK=dev" in result.stdout
    unknown = _deploy(bin_dir, "--cluster", "qa")
    assert unknown.returncode == 2
    assert "k3d local prod staging" in unknown.stderr
