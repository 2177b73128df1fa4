"""Helm Release summaries (``<stack>/helm/*.yaml``): not Kubernetes objects, so they are checked
as what they are: a chart from an https/oci repository at an exactly pinned version."""

from __future__ import annotations

import re

from ._findings import CheckResult
from ._manifests import Stack

EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
REQUIRED_TEXT = ("release", "chart", "repo", "version", "namespace")


def check_helm_releases(stack: Stack, result: CheckResult) -> None:
    for summary in stack.helm_releases:
        result.runs += 1
        body = summary.body
        subject = f"helm/{summary.path.name}"
        for key in REQUIRED_TEXT:
            value = body.get(key)
            if not isinstance(value, str) or not value.strip():
                result.fail(subject, f"{key}: missing or empty")
        version = body.get("version")
        if isinstance(version, str) and version.strip() and not EXACT_VERSION.match(version):
            result.fail(subject, f"version: {version!r} is not an exact chart version (x.y.z)")
        repo = body.get("repo")
        if isinstance(repo, str) and not repo.startswith(("https://", "oci://")):
            result.fail(subject, f"repo: {repo!r} must be an https:// or oci:// repository")
        chart = body.get("chart")
        if isinstance(chart, str) and ("/" in chart or ":" in chart):
            result.fail(
                subject, f"chart: {chart!r} must be a bare chart name; the repo is separate"
            )
        if not isinstance(body.get("values", {}), dict):
            result.fail(subject, "values: must be a mapping")
