"""The cluster stack's add-ons (cluster/): pinned Helm releases and the ClusterIssuers.

App stacks reach them through the cluster stack's outputs (components.cluster_ref)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_config import ClusterConfig
from components.kube import child_opts

ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"
# Both Let's Encrypt endpoints, so app stacks pick one by name (exposure.tls.clusterIssuer).
ACME_SERVERS = {
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "letsencrypt-prod": "https://acme-v02.api.letsencrypt.org/directory",
}


@dataclass(frozen=True)
class Chart:
    release: str
    chart: str
    repo: str  # empty for an OCI chart (chart is then its oci:// reference)
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
    "envoy_gateway": Chart(
        "envoy-gateway",
        "oci://docker.io/envoyproxy/gateway-helm",
        "",
        "v1.5.0",
        ENVOY_GATEWAY_NAMESPACE,
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
    # The release whose CRDs `make e2e` checks app stacks' ScaledObjects against (e2e/crds.py).
    "keda": Chart("keda", "keda", "https://kedacore.github.io/charts", "2.20.2", "keda"),
    # The release whose CRDs `make e2e` checks app stacks' ExternalSecrets against (e2e/crds.py).
    "external_secrets": Chart(
        "external-secrets",
        "external-secrets",
        "https://charts.external-secrets.io",
        "1.3.2",
        "external-secrets",
    ),
    "otel_collector": Chart(
        "otel-collector",
        "opentelemetry-collector",
        "https://open-telemetry.github.io/opentelemetry-helm-charts",
        "0.182.0",
        "observability",
        {
            "mode": "deployment",
            "image": {"repository": "otel/opentelemetry-collector-k8s"},
            # The Service app stacks name in tracing.endpoint.
            "fullnameOverride": "otel-collector",
        },
    ),
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# ingress-nginx on kind (kind's documented setup): hostPort on the ingress-ready node, a NodePort
# Service (Helm's atomic wait never sees a LoadBalancer address there), and "localhost" published
# as the Ingress status, which ends Pulumi's Ingress await.
INGRESS_NGINX_LOCAL_VALUES: dict[str, Any] = {
    "controller": {
        "hostPort": {"enabled": True},
        "service": {"type": "NodePort"},
        "publishService": {"enabled": False},
        "extraArgs": {"publish-status-address": "localhost"},
        "nodeSelector": {"ingress-ready": "true", "kubernetes.io/os": "linux"},
        "tolerations": [
            {
                "key": "node-role.kubernetes.io/control-plane",
                "operator": "Exists",
                "effect": "NoSchedule",
            }
        ],
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
    }
}
# cert-manager solves HTTP-01 through Gateway API HTTPRoutes only with this switch.
CERT_MANAGER_GATEWAY_VALUES: dict[str, Any] = {
    "config": {
        "apiVersion": "controller.config.cert-manager.io/v1alpha1",
        "kind": "ControllerConfiguration",
        "enableGatewayAPI": True,
    }
}


class ClusterAddons(pulumi.ComponentResource):
    """Helm releases by chart key (``releases``) and the ClusterIssuers."""

    releases: dict[str, k8s.helm.v3.Release]

    def __init__(
        self,
        resource_name: str,
        config: ClusterConfig,
        provider: k8s.Provider,
        http01_solver: dict[str, Any] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("agentsmcp:index:ClusterAddons", resource_name, None, opts)
        self.releases = {}
        for key, extra in _release_values(config).items():
            if extra is None:
                continue
            # cert-manager's Gateway API support needs the Gateway API CRDs at its start.
            after = (
                [self.releases["envoy_gateway"]]
                if key == "cert_manager" and "envoy_gateway" in self.releases
                else []
            )
            self.releases[key] = _release(
                resource_name, CHARTS[key], extra, child_opts(self, provider, after)
            )
        self.issuers: list[pulumi.Resource] = []
        if config.cert_manager.enabled and http01_solver is not None:
            after_cert_manager = child_opts(self, provider, [self.releases["cert_manager"]])
            self.issuers = [
                _cluster_issuer(
                    resource_name, name, server, config, http01_solver, after_cert_manager
                )
                for name, server in ACME_SERVERS.items()
            ]
        self.register_outputs({"releases": sorted(CHARTS[key].release for key in self.releases)})


def _release_values(config: ClusterConfig) -> dict[str, dict[str, Any] | None]:
    """The values each chart gets on top of its own (``Chart.values``); None: not installed."""
    return {
        "ingress_nginx": _merge(
            INGRESS_NGINX_LOCAL_VALUES if config.ingress_nginx.local else {},
            config.ingress_nginx.values,
        )
        if config.exposure == "ingress"
        else None,
        "envoy_gateway": config.gateway.values if config.exposure == "gateway" else None,
        "cert_manager": _merge(
            CERT_MANAGER_GATEWAY_VALUES if config.exposure == "gateway" else {},
            config.cert_manager.values,
        )
        if config.cert_manager.enabled
        else None,
        "kube_prometheus_stack": config.kube_prometheus_stack.values
        if config.kube_prometheus_stack.enabled
        else None,
        "metrics_server": config.metrics_server.values if config.metrics_server.enabled else None,
        "vpa": config.vpa.values if config.vpa.enabled else None,
        "keda": config.keda.values if config.keda.enabled else None,
        "external_secrets": config.external_secrets.values
        if config.external_secrets.enabled
        else None,
        "otel_collector": config.otel_collector.values if config.otel_collector.enabled else None,
    }


def _release(
    resource_name: str, chart: Chart, extra: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        f"{resource_name}-{chart.release}",
        name=chart.release,
        chart=chart.chart,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo) if chart.repo else None,
        namespace=chart.namespace,
        create_namespace=True,
        atomic=True,
        cleanup_on_fail=True,
        timeout=600,
        values=_merge(chart.values, extra),
        opts=opts,
    )


def _cluster_issuer(
    resource_name: str,
    name: str,
    server: str,
    config: ClusterConfig,
    http01_solver: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> pulumi.Resource:
    """The ACME ClusterIssuer ``name`` at ``server``, answering HTTP-01 with ``http01_solver``."""
    return k8s.apiextensions.CustomResource(
        f"{resource_name}-{name}",
        api_version="cert-manager.io/v1",
        kind="ClusterIssuer",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name),
        spec={
            "acme": {
                "server": server,
                "email": config.cert_manager.email,
                "privateKeySecretRef": {"name": f"{name}-account-key"},
                "solvers": [{"http01": http01_solver}],
            }
        },
        opts=opts,
    )
