"""The cluster stack: `pulumi up -s local|staging|prod` in cluster/ (or `make deploy-cluster`).

Installs once per cluster what every app stack on it shares, and exports what they need
(components.cluster_ref reads these outputs through a StackReference).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The program shares components/ with the app project one directory up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from components import cluster_ref as out
from components.addons import CHARTS, ENVOY_GATEWAY_NAMESPACE, ClusterAddons
from components.cluster_config import load_cluster_config
from components.config import StackConfigError
from components.gateway import PublicGateway, http01_solver
from components.kube import cluster_provider

INGRESS_NGINX_CLASS = "nginx"


def main() -> None:
    try:
        config = load_cluster_config()
    except StackConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    stack = pulumi.get_stack()
    provider = cluster_provider(f"cluster-{stack}", config.kubernetes)
    solver = {
        "gateway": http01_solver(config.gateway),
        "ingress": {"ingress": {"ingressClassName": INGRESS_NGINX_CLASS}},
        "existing": {"ingress": {"ingressClassName": config.existing_ingress_class}},
    }[config.exposure]
    addons = ClusterAddons("addons", config, provider, solver)
    if config.exposure == "gateway":
        PublicGateway(
            "gateway",
            config.gateway,
            provider,
            depends_on=[addons.releases["envoy_gateway"], *addons.issuers],
        )
        pulumi.export(out.GATEWAY_NAME, config.gateway.name)
        pulumi.export(out.GATEWAY_NAMESPACE, config.gateway.namespace)
        # Envoy Gateway runs each Gateway's proxies in its own namespace.
        pulumi.export(out.GATEWAY_TRAFFIC_NAMESPACE, ENVOY_GATEWAY_NAMESPACE)
    elif config.exposure == "ingress":
        pulumi.export(out.INGRESS_CLASS, INGRESS_NGINX_CLASS)
        pulumi.export(out.INGRESS_NAMESPACE, CHARTS["ingress_nginx"].namespace)
    else:
        pulumi.export(out.INGRESS_CLASS, config.existing_ingress_class)
        pulumi.export(out.INGRESS_NAMESPACE, config.existing_ingress_namespace)
    monitoring = CHARTS["kube_prometheus_stack"]
    if config.kube_prometheus_stack.enabled:
        pulumi.export(out.MONITORING_NAMESPACE, monitoring.namespace)
        pulumi.export(out.PROMETHEUS_RELEASE_LABEL, monitoring.release)
    pulumi.export(out.VPA_INSTALLED, config.vpa.enabled)
    pulumi.export(out.KEDA_INSTALLED, config.keda.enabled)
    pulumi.export(out.EXTERNAL_SECRETS_INSTALLED, config.external_secrets.enabled)
    pulumi.export(
        "clusterIssuers",
        sorted(issuer for issuer in ("letsencrypt-prod", "letsencrypt-staging"))
        if addons.issuers
        else [],
    )


main()
