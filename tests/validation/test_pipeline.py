"""The whole validator on a known-good stack, and its loud failure report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import STACK, ValidatorRun, object_file

pytestmark = pytest.mark.slow

STACK_CHECKS = (
    "render",
    "kubernetes",
    "custom-resources",
    "references",
    "pod-security",
    "helm",
    "policy",
    "alerts",
    "metrics",
)


def test_the_good_stack_passes_every_stack_check(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    result = run_validator("--only", *STACK_CHECKS, manifests=manifests)

    assert result.returncode == 0, result.output
    assert "VALIDATION PASSED: 0 findings." in result.output
    row = next(line for line in result.output.splitlines() if line.startswith(STACK))
    stack, objects, runs, failures, _ = row.split(maxsplit=4)
    assert (stack, objects, failures) == (STACK, "18", "0")
    assert int(runs) > 100


def test_a_finding_fails_the_run_with_a_table_and_a_loud_verdict(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    object_file(manifests, "serviceaccount-").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b}\n",
        encoding="utf-8",
    )

    result = run_validator("--only", "render", "kubernetes", manifests=manifests)

    assert result.returncode == 1
    assert "holds 2 documents; the render writes exactly one" in result.output
    assert "stack       objects  checks run  failures  failing checks" in result.output
    assert "VALIDATION FAILED: 1 finding(s)" in result.output


def test_a_stack_that_was_not_rendered_is_a_failure(
    run_validator: Callable[..., ValidatorRun], tmp_path: Path
) -> None:
    result = run_validator("--only", "kubernetes", manifests=tmp_path)

    assert result.returncode == 1
    assert "does not exist: run `make render` first" in result.output


def test_a_missing_tool_is_a_finding_never_a_skip(
    run_validator: Callable[..., ValidatorRun], manifests: Path, tmp_path: Path
) -> None:
    result = run_validator("--only", "alerts", manifests=manifests, path=str(tmp_path))

    assert result.returncode == 1
    assert "promtool is not installed: install the Debian package `prometheus`" in result.output
