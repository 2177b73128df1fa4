"""kubernetes-validate (strict, every minor from 1.30) and the custom-resource schemas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import STACK, ValidatorRun, edit, object_file, write_yaml

pytestmark = pytest.mark.slow


def _container(document: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = document["spec"]["template"]["spec"]["containers"][0]
    return container


def test_an_unknown_field_and_a_wrong_type_fail_on_every_kubernetes_version(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    def break_deployment(document: dict[str, Any]) -> None:
        _container(document)["imagePullPolicyy"] = "Always"
        document["spec"]["revisionHistoryLimit"] = "ten"

    edit(object_file(manifests, "deployment-"), break_deployment)

    result = run_validator("--only", "kubernetes", manifests=manifests)

    assert result.returncode == 1
    assert "'imagePullPolicyy' was unexpected" in result.output
    assert "spec.revisionHistoryLimit: 'ten' is not of type 'integer'" in result.output
    assert "(Kubernetes all)" in result.output


def test_a_kind_without_any_schema_is_a_failure_not_a_warning(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    write_yaml(
        manifests / STACK / "widget-agentsmcp-prod-w.yaml",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    )

    result = run_validator("--only", "kubernetes", manifests=manifests)

    assert result.returncode == 1
    assert "no schema for kind Widget (example.com/v1)" in result.output


@pytest.mark.parametrize(
    ("prefix", "change", "expected"),
    [
        (
            "servicemonitor-",
            lambda d: d["spec"]["endpoints"][0].update(scrapeEvery="30s"),
            "spec.endpoints.0.scrapeEvery: Extra inputs are not permitted",
        ),
        (
            "servicemonitor-",
            lambda d: d["spec"]["endpoints"][0].update(port=8000),
            "spec.endpoints.0.port: Input should be a valid string",
        ),
        (
            "prometheusrule-",
            lambda d: d["spec"]["groups"][0]["rules"][0].update(severity="page"),
            "spec.groups.0.rules.0.severity: Extra inputs are not permitted",
        ),
        (
            "verticalpodautoscaler-",
            lambda d: d["spec"]["updatePolicy"].update(updateMode="Sometimes"),
            "spec.updatePolicy.updateMode: 'Sometimes' is not one of",
        ),
        (
            "verticalpodautoscaler-",
            lambda d: d["spec"].update(minReplicas=2),
            "'minReplicas' was unexpected",
        ),
    ],
    ids=["sm-unknown-key", "sm-wrong-type", "rule-unknown-key", "vpa-enum", "vpa-unknown-key"],
)
def test_custom_resources_reject_unknown_keys_and_wrong_values(
    run_validator: Callable[..., ValidatorRun],
    manifests: Path,
    prefix: str,
    change: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    edit(object_file(manifests, prefix), change)

    result = run_validator("--only", "custom-resources", manifests=manifests)

    assert result.returncode == 1
    assert expected in result.output


def test_cert_manager_kinds_use_the_published_models(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": "letsencrypt-prod"},
        "spec": {
            "acme": {
                "server": "https://acme-v02.api.letsencrypt.org/directory",
                "email": "ops@example.com",
                "privateKeySecretRef": {"name": "letsencrypt-prod"},
                "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
            }
        },
    }
    path = manifests / STACK / "clusterissuer-letsencrypt-prod.yaml"
    write_yaml(path, issuer)
    assert run_validator("--only", "custom-resources", manifests=manifests).returncode == 0

    issuer["spec"]["acme"]["emailAddress"] = issuer["spec"]["acme"].pop("email")
    write_yaml(path, issuer)
    result = run_validator("--only", "custom-resources", manifests=manifests)

    assert result.returncode == 1
    assert "spec.acme.emailAddress: Extra inputs are not permitted" in result.output


def test_an_httproute_is_checked_against_the_gateway_api_schema(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    route: dict[str, Any] = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "agentsmcp", "namespace": "agentsmcp-prod"},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
            "hostnames": ["agents.example.com"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "agentsmcp", "port": 80}],
                }
            ],
        },
    }
    path = manifests / STACK / "httproute-agentsmcp-prod-agentsmcp.yaml"
    write_yaml(path, route)
    assert run_validator("--only", "custom-resources", manifests=manifests).returncode == 0

    route["spec"]["rules"][0]["backendRefs"][0]["servicePort"] = 80
    route["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"
    write_yaml(path, route)
    result = run_validator("--only", "custom-resources", manifests=manifests)

    assert result.returncode == 1
    assert "'servicePort' was unexpected" in result.output
    assert "'Prefix' is not one of ['Exact', 'PathPrefix', 'RegularExpression']" in result.output
