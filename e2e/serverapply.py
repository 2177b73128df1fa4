"""Apply a rendered stack (``make render`` output) to the real API server.

The namespace, its ResourceQuota, LimitRange and ServiceAccount are created for real, so Pod
Security admission (the namespace's ``enforce: restricted`` label), quota, limit and service-account
admission run against everything after them; every other object is then sent as a server-side
apply with ``--dry-run=server`` and strict field validation: unknown or duplicate fields, CRD
schema and CEL rules, and every admission plugin refuse exactly as they would on a cluster. Pod
Security only *warns* about workload templates, so each Deployment's pod template is also
submitted as a Pod (dry-run), where ``enforce`` refuses it. Warnings count as failures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from e2e.controlplane import ControlPlane

FIELD_MANAGER = "agentsmcp-e2e"
# Created for real first: admission of everything else depends on them (the ServiceAccount
# admission plugin refuses a pod whose ServiceAccount does not exist).
FIRST_KINDS = ("Namespace", "ResourceQuota", "LimitRange", "ServiceAccount")
# Objects with a pod template, each also submitted as a Pod (Pod Security only warns on templates).
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


@dataclass
class ApplyReport:
    stack: str
    namespace: str
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.warnings


def load_rendered(directory: Path) -> list[dict[str, Any]]:
    """The objects of one rendered stack (Helm release summaries under helm/ are not objects)."""
    if not (directory / ".rendered").exists():
        raise FileNotFoundError(f"{directory} is not `make render` output")
    return [
        with_valid_placeholders(yaml.safe_load(path.read_text()))
        for path in sorted(directory.glob("*.yaml"))
    ]


# The render writes every secret value as REDACTED; where the API server validates a Secret's
# content by its type, the placeholder becomes the smallest value of the documented shape.
REDACTED = "REDACTED"
TYPED_SECRET_PLACEHOLDERS = {
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson", '{"auths": {}}'),
    "kubernetes.io/dockercfg": (".dockercfg", "{}"),
}


def with_valid_placeholders(obj: dict[str, Any]) -> dict[str, Any]:
    typed = TYPED_SECRET_PLACEHOLDERS.get(str(obj.get("type"))) if obj["kind"] == "Secret" else None
    string_data = obj.get("stringData") or {}
    if typed is None or string_data.get(typed[0]) != REDACTED:
        return obj
    return {**obj, "stringData": {**string_data, typed[0]: typed[1]}}


def object_id(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    ns = meta.get("namespace")
    return f"{obj['kind']}/{ns + '/' if ns else ''}{meta['name']}"


def pod_from_template(workload: dict[str, Any], suffix: str = "template") -> dict[str, Any]:
    template = workload["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{workload['metadata']['name']}-{suffix}",
            "namespace": workload["metadata"]["namespace"],
            "labels": template.get("metadata", {}).get("labels", {}),
        },
        "spec": template["spec"],
    }


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Warning:")]


def server_apply(
    cp: ControlPlane, obj: dict[str, Any], *, dry_run: bool
) -> tuple[bool, str, list[str]]:
    """(accepted, error text, warnings) of one server-side apply with strict field validation."""
    args = ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--validate=strict"]
    if dry_run:
        args.append("--dry-run=server")
    result = cp.kubectl(*args, "-f", "-", input=json.dumps(obj), check=False)
    return result.returncode == 0, result.stderr.strip(), _warnings(result.stderr)


def apply_stack(cp: ControlPlane, stack: str, directory: Path) -> ApplyReport:
    objects = load_rendered(directory)
    namespaces = [obj for obj in objects if obj["kind"] == "Namespace"]
    if len(namespaces) != 1:
        raise ValueError(f"{directory}: expected one Namespace, found {len(namespaces)}")
    report = ApplyReport(stack, namespaces[0]["metadata"]["name"])
    first = [kind for kind in FIRST_KINDS if any(obj["kind"] == kind for obj in objects)]
    ordered = sorted(objects, key=lambda o: first.index(o["kind"]) if o["kind"] in first else 99)
    candidates = [(obj, obj["kind"] not in FIRST_KINDS) for obj in ordered]
    candidates += [
        (pod_from_template(obj), True) for obj in objects if obj["kind"] in WORKLOAD_KINDS
    ]
    for obj, dry_run in candidates:
        accepted, error, warnings = server_apply(cp, obj, dry_run=dry_run)
        name = object_id(obj)
        if accepted:
            report.accepted.append(name)
        else:
            report.refused[name] = error
        if warnings:
            report.warnings[name] = warnings
    return report


def delete_namespace(cp: ControlPlane, namespace: str) -> None:
    """Delete and wait until the namespace controller has finalized it."""
    cp.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=true", timeout=180)
