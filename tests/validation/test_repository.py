"""The repository-level checks: hadolint on the Dockerfile, the workflows and dependabot."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import REPO, ValidatorRun

pytestmark = pytest.mark.slow

WORKFLOW = Path(".github/workflows/preview.yml")


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A copy of the repository's Dockerfile and .github to break."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / ".github", root / ".github")
    shutil.copy2(REPO / "Dockerfile", root / "Dockerfile")
    return root


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_repository_dockerfile_and_workflows_pass(
    run_validator: Callable[..., ValidatorRun], repository: Path
) -> None:
    result = run_validator("--only", "dockerfile", "workflows", root=repository)

    assert result.returncode == 0, result.output


def test_hadolint_findings_fail_the_dockerfile(
    run_validator: Callable[..., ValidatorRun], repository: Path
) -> None:
    (repository / "Dockerfile").write_text(
        "FROM debian:latest\nRUN apt-get update && apt-get install -y curl\nCMD curl localhost\n",
        encoding="utf-8",
    )

    result = run_validator("--only", "dockerfile", root=repository)

    assert result.returncode == 1
    assert "hadolint failed" in result.output
    assert "DL3007" in result.output  # latest tag
    assert "DL3008" in result.output  # unpinned apt package


def test_an_action_pinned_to_a_tag_is_reported(
    run_validator: Callable[..., ValidatorRun], repository: Path
) -> None:
    _replace(
        repository / WORKFLOW,
        "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0",
        "actions/checkout@v5",
    )

    result = run_validator("--only", "workflows", root=repository)

    assert result.returncode == 1
    assert "'actions/checkout@v5' must be pinned to a full commit SHA" in result.output


def test_broad_permissions_are_reported(
    run_validator: Callable[..., ValidatorRun], repository: Path
) -> None:
    _replace(repository / WORKFLOW, "permissions: {}", "permissions: write-all")

    result = run_validator("--only", "workflows", root=repository)

    assert result.returncode == 1
    assert "top-level `permissions` grants write" in result.output


def test_an_invalid_workflow_fails_schema_and_actionlint(
    run_validator: Callable[..., ValidatorRun], repository: Path
) -> None:
    _replace(repository / WORKFLOW, "runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04")
    _replace(repository / WORKFLOW, "${{ matrix.stack }}", "${{ matrix.stacks }}")

    result = run_validator("--only", "workflows", root=repository)

    assert result.returncode == 1
    assert "check-jsonschema vendor.github-workflows failed" in result.output
    assert "actionlint failed" in result.output
    assert "runs_on" in result.output


def test_an_invalid_dependabot_file_is_reported(
    run_validator: Callable[..., ValidatorRun], repository: Path
) -> None:
    dependabot = repository / ".github/dependabot.yml"
    _replace(dependabot, "interval: weekly", "interval: hourly")
    _replace(dependabot, "package-ecosystem: github-actions", "package-ecosystem: npm")

    result = run_validator("--only", "workflows", root=repository)

    assert result.returncode == 1
    assert "check-jsonschema vendor.dependabot failed" in result.output
    assert "no `github-actions` updates configured" in result.output


def test_shell_mistakes_in_run_steps_are_reported(
    run_validator: Callable[..., ValidatorRun], repository: Path
) -> None:
    _replace(
        repository / WORKFLOW,
        'run: sudo env "PATH=${PATH}" CI=true bash .ci/run',
        "run: ls $RUNNER_TEMP/*",
    )

    result = run_validator("--only", "workflows", root=repository)

    assert result.returncode == 1
    assert "SC2086" in result.output  # shellcheck, through actionlint
