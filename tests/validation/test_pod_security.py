"""The Pod Security ``restricted`` profile, asserted on every pod template."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from validation._findings import CheckResult
from validation._manifests import load_stack
from validation._pod_security import check_pod_security

from .conftest import STACK, edit, object_file, write_yaml


def _check(manifests: Path) -> CheckResult:
    loading = CheckResult("render", STACK)
    stack = load_stack(STACK, manifests / STACK, loading)
    assert loading.passed, loading.findings
    result = CheckResult("pod-security", STACK)
    check_pod_security(stack, result)
    return result


def _pod(document: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = document["spec"]["template"]["spec"]
    return pod


def _container(document: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = _pod(document)["containers"][0]
    return container


def _drop_seccomp(document: dict[str, Any]) -> None:
    del _pod(document)["securityContext"]["seccompProfile"]
    del _container(document)["securityContext"]["seccompProfile"]


def _drop_non_root(document: dict[str, Any]) -> None:
    del _pod(document)["securityContext"]["runAsNonRoot"]
    del _container(document)["securityContext"]["runAsNonRoot"]


def test_the_rendered_deployment_meets_the_restricted_profile(manifests: Path) -> None:
    result = _check(manifests)

    assert result.passed, result.findings
    assert result.runs >= 2  # the namespace labels and the pod template


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: _container(d)["securityContext"].update(allowPrivilegeEscalation=True),
            "containers[agentsmcp].securityContext.allowPrivilegeEscalation: must be false",
        ),
        (
            lambda d: _container(d)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
            "capabilities.drop: must include ALL",
        ),
        (
            lambda d: _container(d)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
            "capabilities.add: SYS_ADMIN not allowed",
        ),
        (
            lambda d: _container(d)["securityContext"].update(privileged=True),
            "privileged: must be unset or false",
        ),
        (_drop_non_root, "runAsNonRoot: must be true (here or on the pod)"),
        (
            lambda d: _container(d)["securityContext"].update(runAsUser=0),
            "runAsUser: must not be 0 (root)",
        ),
        (_drop_seccomp, "seccompProfile.type: must be RuntimeDefault or Localhost"),
        (
            lambda d: _pod(d)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
            "securityContext.seccompProfile.type: Unconfined is not allowed",
        ),
        (lambda d: _pod(d).update(hostNetwork=True), "hostNetwork: must be unset or false"),
        (
            lambda d: _pod(d)["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
            "volumes[host]: hostPath volumes are not allowed",
        ),
        (
            lambda d: _container(d)["ports"][0].update(hostPort=8000),
            "hostPort 8000 is not allowed",
        ),
        (
            lambda d: _pod(d)["securityContext"].update(
                sysctls=[{"name": "kernel.msgmax", "value": "1"}]
            ),
            "kernel.msgmax is not a safe sysctl",
        ),
        (
            lambda d: _container(d)["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
            "seLinuxOptions.type: spc_t is not allowed",
        ),
    ],
    ids=[
        "privilege-escalation",
        "no-drop-all",
        "added-capability",
        "privileged",
        "may-run-as-root",
        "uid-0",
        "no-seccomp",
        "unconfined-seccomp",
        "host-network",
        "host-path",
        "host-port",
        "unsafe-sysctl",
        "selinux-type",
    ],
)
def test_each_breach_of_the_profile_is_reported(
    manifests: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit(object_file(manifests, "deployment-"), change)

    result = _check(manifests)

    messages = [finding.message for finding in result.findings]
    assert any(expected in message for message in messages), messages
    assert all(f.subject.startswith("Deployment/agentsmcp") for f in result.findings)


def test_pods_in_jobs_and_cronjobs_are_checked_too(manifests: Path) -> None:
    pod = {"containers": [{"name": "task", "image": "busybox@sha256:" + "1" * 64}]}
    write_yaml(
        manifests / STACK / "cronjob-agentsmcp-prod-task.yaml",
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "task", "namespace": "agentsmcp-prod"},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": pod}}}},
        },
    )

    result = _check(manifests)

    subjects = {finding.subject for finding in result.findings}
    assert subjects == {"CronJob/task (cronjob-agentsmcp-prod-task.yaml)"}
    assert any("allowPrivilegeEscalation" in f.message for f in result.findings)


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
