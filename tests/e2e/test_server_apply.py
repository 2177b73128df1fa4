"""The rendered stacks against a real API server: admission, quota, limits and CRD schemas.

This is the authority for Pod Security (it replaced validation's hand-written re-implementation):
the namespace carries ``pod-security.kubernetes.io/enforce: restricted`` and the API server's own
PodSecurity admission judges each pod template.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.binaries import ROOT
from e2e.controlplane import ControlPlane
from e2e.serverapply import (
    WORKLOAD_KINDS,
    ApplyReport,
    apply_stack,
    delete_namespace,
    load_rendered,
    pod_from_template,
    server_apply,
)
from tests.e2e.conftest import STACKS, VARIANTS

APPLIED = (*STACKS, *VARIANTS)


@pytest.fixture(scope="module")
def applied(
    control_plane: ControlPlane, rendered: dict[str, Path]
) -> Iterator[dict[str, ApplyReport]]:
    reports = {stack: apply_stack(control_plane, stack, rendered[stack]) for stack in APPLIED}
    try:
        yield reports
    finally:
        for report in reports.values():
            delete_namespace(control_plane, report.namespace)


def _one(rendered: Path, kind: str) -> dict[str, Any]:
    found = [obj for obj in load_rendered(rendered) if obj["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in {rendered}"
    return found[0]


@pytest.mark.parametrize("stack", APPLIED)
def test_rendered_stack_is_accepted_without_warnings(
    applied: dict[str, ApplyReport], rendered: dict[str, Path], stack: str
) -> None:
    report = applied[stack]
    assert report.refused == {}
    assert report.warnings == {}
    expected = {obj["kind"] for obj in load_rendered(rendered[stack])} | {"Pod"}
    assert {name.split("/")[0] for name in report.accepted} == expected
    # Every workload's pod template was judged by Pod Security admission as a Pod.
    workloads = [o for o in load_rendered(rendered[stack]) if o["kind"] in WORKLOAD_KINDS]
    pods = [name for name in report.accepted if name.startswith("Pod/")]
    assert len(pods) == len(workloads) > 0


@pytest.mark.parametrize("stack", APPLIED)
def test_namespace_enforces_restricted(
    applied: dict[str, ApplyReport], control_plane: ControlPlane, stack: str
) -> None:
    labels = control_plane.get_json("namespace", applied[stack].namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def _template_pod(rendered: dict[str, Path], stack: str, suffix: str) -> dict[str, Any]:
    return copy.deepcopy(pod_from_template(_one(rendered[stack], "Deployment"), suffix))


@pytest.mark.parametrize(
    ("mutation", "violation"),
    [
        (
            lambda c: c["securityContext"].update(privileged=True, allowPrivilegeEscalation=None),
            "privileged",
        ),
        (
            lambda c: c["securityContext"].update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation",
        ),
        (lambda c: c["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
        (lambda c: c["securityContext"]["capabilities"].update(add=["NET_ADMIN"]), "capabilities"),
    ],
    ids=["privileged", "privilege-escalation", "root", "capabilities"],
)
def test_pod_security_refuses_a_pss_breaking_pod(
    applied: dict[str, ApplyReport],
    rendered: dict[str, Path],
    control_plane: ControlPlane,
    mutation: Any,
    violation: str,
) -> None:
    pod = _template_pod(rendered, "dev", "pss")
    mutation(pod["spec"]["containers"][0])
    accepted, error, _ = server_apply(control_plane, pod, dry_run=True)
    assert not accepted
    assert 'violates PodSecurity "restricted:latest"' in error
    assert violation in error


def test_resource_quota_refuses_requests_beyond_it(
    applied: dict[str, ApplyReport], rendered: dict[str, Path], control_plane: ControlPlane
) -> None:
    pod = _template_pod(rendered, "dev", "quota")
    first = pod["spec"]["containers"][0]
    # Each container is within the LimitRange max (4 CPU); together they exceed requests.cpu=4.
    for container in (first, second := copy.deepcopy(first)):
        container["resources"] = {"requests": {"cpu": "3"}, "limits": {"cpu": "3"}}
    second["name"] = "second"
    second.pop("ports", None)
    pod["spec"]["containers"].append(second)
    accepted, error, _ = server_apply(control_plane, pod, dry_run=True)
    assert not accepted
    assert "exceeded quota: agentsmcp-quota" in error
    assert "requests.cpu=6" in error


def test_limit_range_refuses_a_container_over_its_max(
    applied: dict[str, ApplyReport], rendered: dict[str, Path], control_plane: ControlPlane
) -> None:
    pod = _template_pod(rendered, "dev", "max")
    pod["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "5", "memory": "256Mi"}}
    accepted, error, _ = server_apply(control_plane, pod, dry_run=True)
    assert not accepted
    assert "maximum cpu usage per Container is 4" in error


def test_limit_range_fills_in_defaults(
    applied: dict[str, ApplyReport], rendered: dict[str, Path], control_plane: ControlPlane
) -> None:
    pod = _template_pod(rendered, "dev", "defaults")
    pod["spec"]["containers"][0].pop("resources", None)
    result = control_plane.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(pod)
    )
    resources = json.loads(result.stdout)["spec"]["containers"][0]["resources"]
    limits = _one(rendered["dev"], "LimitRange")["spec"]["limits"][0]
    assert resources == {"requests": limits["defaultRequest"], "limits": limits["default"]}


# (rendered stack, kind, how to break it, what the API server says): each CRD's published schema
# really judges our objects.
SCHEMA_CASES = {
    "service-monitor-interval-pattern": (
        "dev",
        "ServiceMonitor",
        lambda s: s["spec"]["endpoints"][0].update(interval="30 seconds"),
        "spec.endpoints[0].interval",
    ),
    "service-monitor-scheme-enum": (
        "dev",
        "ServiceMonitor",
        lambda s: s["spec"]["endpoints"][0].update(scheme="ftp"),
        "spec.endpoints[0].scheme",
    ),
    "service-monitor-type": (
        "dev",
        "ServiceMonitor",
        lambda s: s["spec"].update(endpoints="http"),
        "spec.endpoints",
    ),
    "service-monitor-unknown-field": (
        "dev",
        "ServiceMonitor",
        lambda s: s["spec"].update(scrapeEverything=True),
        ".spec.scrapeEverything: field not declared in schema",
    ),
    "scaled-object-min-above-max": (
        "prod-keda",
        "ScaledObject",
        lambda s: s["spec"].update(minReplicaCount=60),
        "minReplicaCount must be less than or equal to maxReplicaCount",
    ),
    "scaled-object-fallback-enum": (
        "prod-keda",
        "ScaledObject",
        lambda s: s["spec"]["fallback"].update(behavior="panic"),
        "spec.fallback.behavior",
    ),
    "scaled-object-no-trigger": (
        "prod-keda",
        "ScaledObject",
        lambda s: s["spec"].update(triggers=[]),
        "spec.triggers",
    ),
    "scaled-object-unknown-field": (
        "prod-keda",
        "ScaledObject",
        lambda s: s["spec"].update(replicas=3),
        ".spec.replicas: field not declared in schema",
    ),
}


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_crd_schema_refuses_an_invalid_object(
    applied: dict[str, ApplyReport],
    rendered: dict[str, Path],
    control_plane: ControlPlane,
    case: str,
) -> None:
    stack, kind, mutation, message = SCHEMA_CASES[case]
    obj = copy.deepcopy(_one(rendered[stack], kind))
    assert server_apply(control_plane, obj, dry_run=True)[0]
    mutation(obj)
    accepted, error, _ = server_apply(control_plane, obj, dry_run=True)
    assert not accepted
    assert message in error


def _documented_stores() -> list[dict[str, Any]]:
    """The SecretStore examples docs/deploy.md shows (Vault, AWS Secrets Manager)."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    docs = [yaml.safe_load(block) for block in blocks]
    return [
        d for d in docs if isinstance(d, dict) and str(d.get("kind", "")).endswith("SecretStore")
    ]


def test_documented_secret_stores_are_valid_eso_objects(
    applied: dict[str, ApplyReport], control_plane: ControlPlane
) -> None:
    stores = _documented_stores()
    assert {store["metadata"]["name"] for store in stores} == {
        "vault-backend",
        "aws-secrets-manager",
    }
    for store in stores:
        accepted, error, warnings = server_apply(control_plane, store, dry_run=True)
        assert accepted, error
        assert warnings == []
    # The schema is really checked: a store with an unknown provider field is refused.
    broken = copy.deepcopy(stores[0])
    broken["spec"]["provider"]["vault"]["token"] = "s.abc"
    accepted, error, _ = server_apply(control_plane, broken, dry_run=True)
    assert not accepted
    assert "field not declared in schema" in error


def test_external_secret_writes_the_secret_the_pods_mount(rendered: dict[str, Path]) -> None:
    external = _one(rendered["prod-external-secrets"], "ExternalSecret")
    deployment = _one(rendered["prod-external-secrets"], "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert external["spec"]["target"]["name"] == volumes["secrets"]["secret"]["secretName"]
    kinds = [obj["kind"] for obj in load_rendered(rendered["prod-external-secrets"])]
    secrets = [
        obj["metadata"]["name"]
        for obj in load_rendered(rendered["prod-external-secrets"])
        if obj["kind"] == "Secret"
    ]
    assert "agentsmcp-secrets" not in secrets
    assert kinds.count("ExternalSecret") == 1
    # The same mount as the stack's own Secret.
    default = _one(rendered["prod"], "Deployment")["spec"]["template"]["spec"]
    assert volumes["secrets"] == {v["name"]: v for v in default["volumes"]}["secrets"]
