"""Core Kubernetes objects: kubernetes-validate's strict schemas for every minor version from
1.30 to the newest the library ships. Unknown fields and wrong types fail; so does a kind that
has neither a Kubernetes schema nor a custom-resource schema here.

``kubernetes_validate.utils.validate`` stops at the first error and reloads the schemas on every
call, so the same schema files are compiled once here and every error is reported."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate.utils as kv  # type: ignore[import-untyped]
from packaging.version import Version
from referencing import Registry, Resource

from ._custom_resources import is_custom_resource
from ._findings import CheckResult
from ._manifests import Stack

OLDEST_MINOR = Version("1.30")


@cache
def kubernetes_versions() -> dict[str, str]:
    """``{minor: newest schema version}`` from 1.30 to the newest kubernetes-validate ships."""
    newest: dict[str, str] = {}
    for version in sorted(set(kv.all_versions()), key=Version):
        minor = kv.major_minor(version)
        if Version(minor) >= OLDEST_MINOR:
            newest[minor] = version
    if not newest:
        raise RuntimeError("kubernetes-validate ships no schema for Kubernetes >= 1.30")
    return newest


@cache
def _definitions(version: str) -> Resource[Any]:
    contents = kv.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version
    )
    return Resource.from_contents(contents)


@cache
def _validator(version: str, kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    # rbac.authorization.k8s.io/v1 -> rbac-v1, as kubernetes-validate names its schema files.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = f"kubernetes-json-schema/v{version}-local-strict/{kind.lower()}-{group_version}.json"
    try:
        schema = kv.schema_contents(path, version)
    except FileNotFoundError:
        return None
    registry: Registry[Any] = Resource.from_contents(schema) @ (_definitions(version) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _location(path: Iterable[object]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def object_problems(body: dict[str, Any]) -> dict[str, list[str]]:
    """``{problem: [minor versions]}`` for one core object."""
    kind, api_version = str(body.get("kind")), str(body.get("apiVersion"))
    failures: dict[str, list[str]] = defaultdict(list)
    for minor, version in kubernetes_versions().items():
        validator = _validator(version, kind, api_version)
        if validator is None:
            failures[
                f"no schema for kind {kind} ({api_version}): neither a Kubernetes kind nor a "
                "custom resource this validator knows"
            ].append(minor)
            continue
        for error in validator.iter_errors(body):
            failures[f"{_location(error.absolute_path)}: {error.message}"].append(minor)
    return failures


def check_core_objects(stack: Stack, result: CheckResult) -> None:
    minors = list(kubernetes_versions())
    for manifest in stack.objects:
        if is_custom_resource(manifest.api_version, manifest.kind):
            continue
        result.runs += len(minors)
        for message, failed in object_problems(manifest.body).items():
            versions = "all" if failed == minors else ", ".join(failed)
            result.fail(manifest.label, f"{message} (Kubernetes {versions})")
