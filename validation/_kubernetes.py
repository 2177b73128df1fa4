"""Core Kubernetes objects: kubernetes-validate's strict schemas for every minor version from
1.30 to the newest the library ships. Unknown fields and wrong types fail; so does a kind that
has neither a Kubernetes schema nor a custom-resource schema here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import kubernetes_validate.utils as kv  # type: ignore[import-untyped]
from packaging.version import Version

from ._custom_resources import CUSTOM_RESOURCES
from ._findings import CheckResult
from ._manifests import Stack

OLDEST_MINOR = Version("1.30")


def kubernetes_minors() -> list[str]:
    """Every ``major.minor`` from 1.30 up to the newest schema kubernetes-validate ships."""
    minors = {kv.major_minor(v) for v in kv.all_versions()}
    selected = sorted((m for m in minors if Version(m) >= OLDEST_MINOR), key=Version)
    if not selected:
        raise RuntimeError("kubernetes-validate ships no schema for Kubernetes >= 1.30")
    return selected


def _location(path: Iterable[object]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) or "(top level)"


def check_core_objects(stack: Stack, result: CheckResult) -> None:
    minors = kubernetes_minors()
    for manifest in stack.objects:
        if (manifest.api_version, manifest.kind) in CUSTOM_RESOURCES:
            continue
        failures: dict[str, list[str]] = defaultdict(list)
        for minor in minors:
            result.runs += 1
            try:
                kv.validate(manifest.body, minor, strict=True)
            except kv.SchemaNotFoundError:
                failures[
                    f"no schema for kind {manifest.kind} ({manifest.api_version}): neither a "
                    "Kubernetes kind nor a custom resource this validator knows"
                ].append(minor)
            except kv.ValidationError as error:
                failures[f"{_location(error.absolute_path)}: {error.message}"].append(minor)
        for message, failed in failures.items():
            versions = "all" if failed == minors else ", ".join(failed)
            result.fail(manifest.label, f"{message} (Kubernetes {versions})")
