"""Pod Security policy checks that stay hand-written: the namespace's labels, a pod template exists.

The profile itself is judged by the real API server (tests/e2e/test_server_apply.py)."""

from __future__ import annotations

from pathlib import Path

from validation._findings import CheckResult
from validation._manifests import load_stack
from validation._pod_security import check_pod_security

from .conftest import STACK, edit, object_file


def _check(manifests: Path) -> CheckResult:
    loading = CheckResult("render", STACK)
    stack = load_stack(STACK, manifests / STACK, loading)
    assert loading.passed, loading.findings
    result = CheckResult("pod-security", STACK)
    check_pod_security(stack, result)
    return result


def test_the_rendered_stack_passes(manifests: Path) -> None:
    result = _check(manifests)

    assert result.passed, result.findings
    assert result.runs >= 1  # the namespace labels


def test_a_stack_without_pod_templates_fails(manifests: Path) -> None:
    object_file(manifests, "deployment-").unlink()

    result = _check(manifests)

    assert [f.message for f in result.findings] == ["no pod template found: nothing would run"]


def test_the_namespace_must_enforce_restricted(manifests: Path) -> None:
    edit(
        object_file(manifests, "namespace-"),
        lambda d: d["metadata"]["labels"].update(
            {"pod-security.kubernetes.io/enforce": "baseline"}
        ),
    )

    result = _check(manifests)

    assert [f.message for f in result.findings] == [
        "label pod-security.kubernetes.io/enforce must be 'restricted'"
    ]
