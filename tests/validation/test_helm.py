"""helm Release summaries: pinned chart versions from https/oci repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from validation._findings import CheckResult
from validation._helm import check_helm_releases
from validation._manifests import load_stack

from .conftest import STACK, edit


def _check(manifests: Path) -> CheckResult:
    stack = load_stack(STACK, manifests / STACK, CheckResult("render", STACK))
    result = CheckResult("helm", STACK)
    check_helm_releases(stack, result)
    return result


def test_the_rendered_summaries_are_pinned(manifests: Path) -> None:
    result = _check(manifests)

    assert result.passed, result.findings
    assert result.runs == 3


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("version", "^4.12", "version: '^4.12' is not an exact chart version"),
        ("version", "latest", "version: 'latest' is not an exact chart version"),
        ("version", "", "version: missing or empty"),
        ("repo", "http://kubernetes.github.io/ingress-nginx", "must be an https:// or oci://"),
        ("chart", "ingress-nginx/ingress-nginx", "must be a bare chart name"),
        ("values", ["--a"], "values: must be a mapping"),
    ],
)
def test_an_unpinned_or_incomplete_release_is_reported(
    manifests: Path, key: str, value: object, expected: str
) -> None:
    summary = manifests / STACK / "helm" / "ingress-nginx-ingress-nginx.yaml"
    edit(summary, lambda d: d.update({key: value}))

    result = _check(manifests)

    assert [f.subject for f in result.findings] == ["helm/ingress-nginx-ingress-nginx.yaml"]
    assert expected in result.findings[0].message
