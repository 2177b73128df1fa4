"""Pod Security Standards, ``restricted`` profile (Kubernetes 1.30+), asserted on every pod
template the render produces. checkov covers only part of the profile, and the namespace label
only helps on a cluster that enforces it, so the rules are checked here field by field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._findings import CheckResult
from ._manifests import Manifest, Stack

RESTRICTED = "restricted"
POD_SECURITY_LABELS = tuple(
    f"pod-security.kubernetes.io/{mode}" for mode in ("enforce", "audit", "warn")
)
ALLOWED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
        "image",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_APPARMOR = frozenset({"RuntimeDefault", "Localhost"})
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


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


def _containers(pod: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in CONTAINER_LISTS:
        for index, container in enumerate(pod.get(field) or []):
            name = container.get("name", index) if isinstance(container, dict) else index
            yield f"{field}[{name}]", container if isinstance(container, dict) else {}


def pod_violations(metadata: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    """Every way one pod spec breaks the ``restricted`` profile, as ``field: problem`` lines."""
    problems: list[str] = []
    pod_context = pod.get("securityContext") or {}

    for host_field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host_field):
            problems.append(f"{host_field}: must be unset or false")

    for volume in pod.get("volumes") or []:
        sources = set(volume) - {"name"}
        bad = sorted(sources - ALLOWED_VOLUME_SOURCES)
        if bad:
            problems.append(
                f"volumes[{volume.get('name')}]: {', '.join(bad)} volumes are not allowed"
            )

    for sysctl in pod_context.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"securityContext.sysctls: {sysctl.get('name')} is not a safe sysctl")

    problems.extend(_selinux_problems("securityContext", pod_context))
    problems.extend(_apparmor_problems("securityContext", pod_context))
    for key, value in (metadata.get("annotations") or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            problems.append(f"annotation {key}: {value!r} is not runtime/default or localhost/*")

    pod_non_root = pod_context.get("runAsNonRoot") is True
    if pod_context.get("runAsNonRoot") is False:
        problems.append("securityContext.runAsNonRoot: must not be false")
    if pod_context.get("runAsUser") == 0:
        problems.append("securityContext.runAsUser: must not be 0 (root)")
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        problems.append(f"securityContext.seccompProfile.type: {pod_seccomp} is not allowed")

    containers = list(_containers(pod))
    if not containers:
        problems.append("containers: the pod has no containers")
    for where, container in containers:
        context = container.get("securityContext") or {}
        prefix = f"{where}.securityContext"
        if context.get("privileged"):
            problems.append(f"{prefix}.privileged: must be unset or false")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{prefix}.allowPrivilegeEscalation: must be false")
        if context.get("procMount", "Default") != "Default":
            problems.append(f"{prefix}.procMount: must be Default")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{prefix}.capabilities.drop: must include ALL")
        added = sorted(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"})
        if added:
            problems.append(f"{prefix}.capabilities.add: {', '.join(added)} not allowed")
        non_root = context.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            problems.append(f"{prefix}.runAsNonRoot: must be true (here or on the pod)")
        if context.get("runAsUser") == 0:
            problems.append(f"{prefix}.runAsUser: must not be 0 (root)")
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if seccomp is None and pod_seccomp is None:
            problems.append(
                f"{prefix}.seccompProfile.type: must be RuntimeDefault or Localhost "
                "(here or on the pod)"
            )
        elif seccomp is not None and seccomp not in ALLOWED_SECCOMP:
            problems.append(f"{prefix}.seccompProfile.type: {seccomp} is not allowed")
        problems.extend(_selinux_problems(prefix, context))
        problems.extend(_apparmor_problems(prefix, context))
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{where}.ports: hostPort {port['hostPort']} is not allowed")
    return problems


def _selinux_problems(prefix: str, context: dict[str, Any]) -> list[str]:
    options = context.get("seLinuxOptions") or {}
    problems = []
    if options.get("type", "") not in ALLOWED_SELINUX_TYPES:
        problems.append(f"{prefix}.seLinuxOptions.type: {options['type']} is not allowed")
    for key in ("user", "role"):
        if options.get(key):
            problems.append(f"{prefix}.seLinuxOptions.{key}: must be unset")
    return problems


def _apparmor_problems(prefix: str, context: dict[str, Any]) -> list[str]:
    profile = (context.get("appArmorProfile") or {}).get("type")
    if profile is not None and profile not in ALLOWED_APPARMOR:
        return [f"{prefix}.appArmorProfile.type: {profile} is not allowed"]
    return []


def check_pod_security(stack: Stack, result: CheckResult) -> None:
    templates = 0
    for manifest in stack.objects:
        if manifest.kind == "Namespace":
            result.runs += 1
            labels = (manifest.body.get("metadata") or {}).get("labels") or {}
            for label in POD_SECURITY_LABELS:
                if labels.get(label) != RESTRICTED:
                    result.fail(manifest.label, f"label {label} must be {RESTRICTED!r}")
        for path, metadata, pod in pod_specs(manifest):
            templates += 1
            result.runs += 1
            for problem in pod_violations(metadata, pod):
                result.fail(manifest.label, f"{path}.{problem}")
    if templates == 0:
        result.fail(str(stack.directory), "no pod template found: nothing would run")
