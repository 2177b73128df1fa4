"""Cross-object references within a stack: selectors, named ports, targets, keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from validation._findings import CheckResult
from validation._manifests import load_stack
from validation._references import check_references, selector_matches

from .conftest import STACK, edit, object_file, read_yaml, write_yaml


def _check(manifests: Path) -> CheckResult:
    stack = load_stack(STACK, manifests / STACK, CheckResult("render", STACK))
    result = CheckResult("references", STACK)
    check_references(stack, result)
    return result


def _pod(document: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = document["spec"]["template"]["spec"]
    return pod


def test_the_rendered_stack_references_only_what_it_defines(manifests: Path) -> None:
    result = _check(manifests)

    assert result.passed, result.findings
    assert result.runs >= 8


@pytest.mark.parametrize(
    ("prefix", "change", "subject", "expected"),
    [
        (
            "service-agentsmcp-prod-agentsmcp.yaml",
            lambda d: d["spec"]["selector"].update({"app.kubernetes.io/name": "agents"}),
            "Service/agentsmcp ",
            "matches no pod template",
        ),
        (
            "service-agentsmcp-prod-agentsmcp.yaml",
            lambda d: d["spec"]["ports"][0].update(targetPort="web"),
            "Service/agentsmcp ",
            "targetPort 'web' is not a named container port",
        ),
        (
            "service-agentsmcp-prod-agentsmcp.yaml",
            lambda d: d["spec"]["ports"][0].update(targetPort=8080),
            "Service/agentsmcp ",
            "targetPort 8080 is not a declared containerPort",
        ),
        (
            "servicemonitor-",
            lambda d: d["spec"]["endpoints"][0].update(port="metrics"),
            "ServiceMonitor/agentsmcp",
            "endpoint port 'metrics' is not a port of its Services",
        ),
        (
            "servicemonitor-",
            lambda d: d["spec"]["namespaceSelector"].update(matchNames=["default"]),
            "ServiceMonitor/agentsmcp",
            "selector matches no Service in the stack",
        ),
        (
            "horizontalpodautoscaler-",
            lambda d: d["spec"]["scaleTargetRef"].update(name="agentsmcp-api"),
            "HorizontalPodAutoscaler/agentsmcp",
            "scaleTargetRef Deployment/agentsmcp-api is not in the stack",
        ),
        (
            "verticalpodautoscaler-",
            lambda d: d["spec"]["targetRef"].update(kind="StatefulSet"),
            "VerticalPodAutoscaler/agentsmcp",
            "targetRef StatefulSet/agentsmcp is not in the stack",
        ),
        (
            "deployment-",
            lambda d: d["spec"].update(replicas=3),
            "Deployment/agentsmcp",
            "sets spec.replicas although an HPA owns it",
        ),
        (
            "poddisruptionbudget-",
            lambda d: d["spec"]["selector"]["matchLabels"].update({"tier": "api"}),
            "PodDisruptionBudget/agentsmcp",
            "selector matches no pod template",
        ),
        (
            "ingress-",
            lambda d: d["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"].update(
                name="agentsmcp-api"
            ),
            "Ingress/agentsmcp",
            "backend Service agentsmcp-api is missing",
        ),
        (
            "ingress-",
            lambda d: d["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"].update(
                port={"number": 8080}
            ),
            "Ingress/agentsmcp",
            "backend port {'number': 8080} is not served",
        ),
        (
            "deployment-",
            lambda d: _pod(d)["volumes"][1]["secret"].update(secretName="agentsmcp-secret"),
            "Deployment/agentsmcp",
            "volume secrets: Secret agentsmcp-secret is missing",
        ),
        (
            "secret-agentsmcp-prod-agentsmcp-registry.yaml",
            lambda d: d.update(type="Opaque"),
            "Deployment/agentsmcp",
            "imagePullSecrets: Secret agentsmcp-registry is not of type kubernetes.io/docker",
        ),
        (
            "deployment-",
            lambda d: _pod(d).update(serviceAccountName="agentsmcp-runner"),
            "Deployment/agentsmcp",
            "serviceAccountName agentsmcp-runner is not in the stack",
        ),
        (
            "deployment-",
            lambda d: _pod(d)["volumes"][0]["configMap"]["items"][0].update(key="app.yaml"),
            "Deployment/agentsmcp",
            "has no key 'app.yaml'",
        ),
        (
            "networkpolicy-agentsmcp-prod-agentsmcp.yaml",
            lambda d: d["spec"]["ingress"][0]["ports"][0].update(port="metrics"),
            "NetworkPolicy/agentsmcp",
            "ingress port 'metrics' is no named container port",
        ),
        (
            "networkpolicy-agentsmcp-prod-agentsmcp.yaml",
            lambda d: d["spec"]["podSelector"].update(matchLabels={"app": "other"}),
            "NetworkPolicy/agentsmcp",
            "podSelector matches no pod template",
        ),
    ],
    ids=[
        "service-selector",
        "service-named-port",
        "service-port-number",
        "monitor-port",
        "monitor-namespace",
        "hpa-target",
        "vpa-target",
        "replicas-with-hpa",
        "pdb-selector",
        "ingress-service",
        "ingress-port",
        "secret-volume",
        "pull-secret-type",
        "service-account",
        "configmap-key",
        "netpol-port",
        "netpol-selector",
    ],
)
def test_a_broken_reference_is_reported_on_the_object_that_holds_it(
    manifests: Path,
    prefix: str,
    change: Callable[[dict[str, Any]], None],
    subject: str,
    expected: str,
) -> None:
    edit(object_file(manifests, prefix), change)

    result = _check(manifests)

    assert result.findings, "the broken reference went unnoticed"
    assert any(f.subject.startswith(subject) and expected in f.message for f in result.findings), [
        f.render() for f in result.findings
    ]


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({"matchLabels": {"app": "a"}}, True),
        ({"matchLabels": {"app": "b"}}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["api"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["api"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, True),
        ({}, True),
    ],
)
def test_label_selectors_follow_kubernetes_semantics(
    selector: dict[str, Any], matches: bool
) -> None:
    assert selector_matches(selector, {"app": "a", "tier": "api"}) is matches


def test_a_second_service_over_the_same_pods_is_a_double_scrape(manifests: Path) -> None:
    service = read_yaml(object_file(manifests, "service-agentsmcp-prod-agentsmcp.yaml"))
    service["metadata"]["name"] = "agentsmcp-headless"
    service["spec"]["clusterIP"] = "None"
    write_yaml(manifests / STACK / "service-agentsmcp-prod-agentsmcp-headless.yaml", service)

    result = _check(manifests)

    assert any(
        f.subject.startswith("ServiceMonitor/agentsmcp ")
        and "scraped through 2 Services (agentsmcp, agentsmcp-headless)" in f.message
        for f in result.findings
    ), [f.render() for f in result.findings]


def _scaled_object(target: str) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "agentsmcp", "namespace": "agentsmcp-prod"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}],
        },
    }


def test_a_scaled_object_is_checked_like_an_hpa(manifests: Path) -> None:
    stack_dir = manifests / STACK
    write_yaml(stack_dir / "scaledobject-agentsmcp-prod-agentsmcp.yaml", _scaled_object("api"))
    edit(object_file(manifests, "deployment-"), lambda d: d["spec"].update(replicas=3))
    findings = [f.render() for f in _check(manifests).findings]
    assert any("scaleTargetRef Deployment/api is not in the stack" in f for f in findings), findings
    write_yaml(
        stack_dir / "scaledobject-agentsmcp-prod-agentsmcp.yaml", _scaled_object("agentsmcp")
    )
    (stack_dir / "horizontalpodautoscaler-agentsmcp-prod-agentsmcp.yaml").unlink()
    findings = [f.render() for f in _check(manifests).findings]
    assert any("sets spec.replicas although an HPA owns it" in f for f in findings), findings


def _external_secret(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "agentsmcp-secrets", "namespace": "agentsmcp-prod"},
        "spec": {
            "secretStoreRef": {"name": "vault"},
            "target": {"name": "agentsmcp-secrets"},
            **spec,
        },
    }


def test_a_secret_an_external_secret_writes_belongs_to_the_stack(manifests: Path) -> None:
    stack_dir = manifests / STACK
    object_file(manifests, "secret-agentsmcp-prod-agentsmcp-secrets.yaml").unlink()
    findings = [f.render() for f in _check(manifests).findings]
    assert any("Secret agentsmcp-secrets is missing" in f for f in findings), findings
    data = [{"secretKey": "JWT_SECRET_KEY", "remoteRef": {"key": "agentsmcp/prod"}}]
    write_yaml(
        stack_dir / "externalsecret-agentsmcp-prod-agentsmcp-secrets.yaml",
        _external_secret(data=data),
    )
    assert _check(manifests).passed, [f.render() for f in _check(manifests).findings]
    write_yaml(
        stack_dir / "externalsecret-agentsmcp-prod-agentsmcp-secrets.yaml",
        _external_secret(dataFrom=[{"extract": {"key": "agentsmcp/prod"}}]),
    )
    assert _check(manifests).passed
