"""Pod Security: the namespace must carry the ``restricted`` labels, and there must be a pod
template at all. Whether each pod template *meets* ``restricted`` is judged by the real API
server's PodSecurity admission in the e2e tier (`make e2e`, tests/e2e/test_server_apply.py), which
replaced the field-by-field re-implementation that lived here. What stays is policy no admission
plugin can state for us: that our namespace opts into enforcement (a hand-written check, since
no real consumer exists for it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._findings import CheckResult
from ._manifests import Manifest, Stack

RESTRICTED = "restricted"
POD_SECURITY_LABELS = tuple(
    f"pod-security.kubernetes.io/{mode}" for mode in ("enforce", "audit", "warn")
)


def pod_specs(manifest: Manifest) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(path, pod metadata, pod spec) of every pod template in one object."""
    body = manifest.body
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return
    kind = manifest.kind
    if kind == "Pod":
        yield "spec", body.get("metadata") or {}, spec
    elif kind in {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"}:
        template = spec.get("template") or {}
        yield "spec.template.spec", template.get("metadata") or {}, template.get("spec") or {}
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        template = job.get("template") or {}
        yield (
            "spec.jobTemplate.spec.template.spec",
            template.get("metadata") or {},
            template.get("spec") or {},
        )
    elif kind == "PodTemplate":
        template = body.get("template") or {}
        yield "template.spec", template.get("metadata") or {}, template.get("spec") or {}


def check_pod_security(stack: Stack, result: CheckResult) -> None:
    templates = 0
    for manifest in stack.objects:
        if manifest.kind == "Namespace":
            result.runs += 1
            labels = (manifest.body.get("metadata") or {}).get("labels") or {}
            for label in POD_SECURITY_LABELS:
                if labels.get(label) != RESTRICTED:
                    result.fail(manifest.label, f"label {label} must be {RESTRICTED!r}")
        templates += sum(1 for _ in pod_specs(manifest))
    if templates == 0:
        result.fail(str(stack.directory), "no pod template found: nothing would run")
