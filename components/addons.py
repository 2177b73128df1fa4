"""Optional cluster add-ons, each a pinned Helm release; exposes what CRD users must depend on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import AddonSettings
from components.kube import child_opts

ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}


@dataclass(frozen=True)
class Chart:
    release: str
    chart: str
    repo: str
    version: str
    namespace: str
    values: dict[str, Any] = field(default_factory=dict)


CHARTS: dict[str, Chart] = {
    "ingress_nginx": Chart(
        "ingress-nginx",
        "ingress-nginx",
        "https://kubernetes.github.io/ingress-nginx",
        "4.12.1",
        "ingress-nginx",
        {"controller": {"metrics": {"enabled": True}, "ingressClassResource": {"name": "nginx"}}},
    ),
    "cert_manager": Chart(
        "cert-manager",
        "cert-manager",
        "https://charts.jetstack.io",
        "v1.17.2",
        "cert-manager",
        {"crds": {"enabled": True, "keep": True}},
    ),
    "kube_prometheus_stack": Chart(
        "kube-prometheus-stack",
        "kube-prometheus-stack",
        "https://prometheus-community.github.io/helm-charts",
        "72.9.1",
        "monitoring",
        {
            "grafana": {
                "sidecar": {
                    "dashboards": {
                        "enabled": True,
                        "label": "grafana_dashboard",
                        "labelValue": "1",
                        "searchNamespace": "ALL",
                    }
                }
            }
        },
    ),
    "metrics_server": Chart(
        "metrics-server",
        "metrics-server",
        "https://kubernetes-sigs.github.io/metrics-server/",
        "3.12.2",
        "kube-system",
    ),
    "vpa": Chart("vpa", "vpa", "https://charts.fairwinds.com/stable", "4.10.0", "vpa"),
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class ClusterAddonsArgs:
    settings: AddonSettings
    ingress_class_name: str


class ClusterAddons(pulumi.ComponentResource):
    """``ingress``, ``monitoring``, ``vpa`` and ``cert_manager`` list what dependants wait for."""

    ingress: list[pulumi.Resource]
    monitoring: list[pulumi.Resource]
    vpa: list[pulumi.Resource]
    cert_manager: list[pulumi.Resource]

    def __init__(
        self,
        resource_name: str,
        args: ClusterAddonsArgs,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("agentsmcp:index:ClusterAddons", resource_name, None, opts)
        settings = args.settings
        toggles = {
            "ingress_nginx": settings.ingress_nginx,
            "cert_manager": settings.cert_manager,
            "kube_prometheus_stack": settings.kube_prometheus_stack,
            "metrics_server": settings.metrics_server,
            "vpa": settings.vpa,
        }
        releases: dict[str, k8s.helm.v3.Release] = {}
        for key, toggle in toggles.items():
            if not toggle.enabled:
                continue
            chart = CHARTS[key]
            releases[key] = k8s.helm.v3.Release(
                f"{resource_name}-{chart.release}",
                name=chart.release,
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
                namespace=chart.namespace,
                create_namespace=True,
                atomic=True,
                cleanup_on_fail=True,
                timeout=600,
                values=_merge(chart.values, toggle.values),
                opts=child_opts(self, provider),
            )
        self.ingress = [releases["ingress_nginx"]] if "ingress_nginx" in releases else []
        self.monitoring = (
            [releases["kube_prometheus_stack"]] if "kube_prometheus_stack" in releases else []
        )
        self.vpa = [releases["vpa"]] if "vpa" in releases else []
        self.cert_manager = []
        if "cert_manager" in releases:
            issuer_settings = settings.cert_manager
            issuer = k8s.apiextensions.CustomResource(
                f"{resource_name}-cluster-issuer",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=issuer_settings.issuer_name),
                spec={
                    "acme": {
                        "server": ACME_SERVERS[issuer_settings.acme_server],
                        "email": issuer_settings.email,
                        "privateKeySecretRef": {
                            "name": f"{issuer_settings.issuer_name}-account-key"
                        },
                        "solvers": [
                            {"http01": {"ingress": {"ingressClassName": args.ingress_class_name}}}
                        ],
                    }
                },
                opts=child_opts(self, provider, [releases["cert_manager"]]),
            )
            self.cert_manager = [releases["cert_manager"], issuer]
        self.register_outputs(
            {"releases": sorted(chart.release for chart in (CHARTS[k] for k in releases))}
        )
