"""Typed config of the cluster stack (``cluster/``, config namespace ``agentsmcp-cluster``).

Same rules as the app stack's config (components.config): unknown keys are errors, and every
problem is one ``agentsmcp-cluster:<key>: <problem>`` line of a StackConfigError.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from components.config import (
    DnsLabel,
    Host,
    KubernetesSettings,
    Model,
    StackConfigError,
    describe_error,
    read_raw_config,
)

CLUSTER_NAMESPACE = "agentsmcp-cluster"


class AddonToggle(Model):
    enabled: bool = False
    values: dict[str, Any] = Field(default_factory=dict)


class IngressNginxSettings(Model):
    # kind: hostPort 80/443 on the node labelled ingress-ready=true and a NodePort Service, so
    # nothing waits for a LoadBalancer address; Ingress status reports "localhost".
    local: bool = False
    values: dict[str, Any] = Field(default_factory=dict)


class GatewayClusterSettings(Model):
    name: DnsLabel = "public"
    namespace: DnsLabel = "gateway"
    # One HTTPS listener per host (certificate from cluster_issuer); plain HTTP redirects there.
    tls_hosts: list[Host] = Field(default_factory=list)
    cluster_issuer: Literal["letsencrypt-staging", "letsencrypt-prod"] | None = None
    values: dict[str, Any] = Field(default_factory=dict)


class CertManagerSettings(AddonToggle):
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ClusterConfig(Model):
    kubernetes: KubernetesSettings = KubernetesSettings()
    # Gateway API (Envoy Gateway) for new clusters; ingress-nginx (retired upstream) on request.
    exposure: Literal["gateway", "ingress", "existing"] = "gateway"
    gateway: GatewayClusterSettings = GatewayClusterSettings()
    ingress_nginx: IngressNginxSettings = IngressNginxSettings()
    # exposure "existing": an ingress controller the cluster already runs (k3s's Traefik).
    existing_ingress_class: DnsLabel = "traefik"
    existing_ingress_namespace: DnsLabel = "kube-system"
    cert_manager: CertManagerSettings = CertManagerSettings()
    kube_prometheus_stack: AddonToggle = AddonToggle()
    metrics_server: AddonToggle = AddonToggle()
    vpa: AddonToggle = AddonToggle()
    # KEDA, for app stacks with autoscaling.scaler keda (in-flight requests per pod).
    keda: AddonToggle = AddonToggle()
    # The External Secrets Operator, for app stacks with externalSecrets (their stores are yours).
    external_secrets: AddonToggle = AddonToggle()
    # An OpenTelemetry Collector (Service otel-collector.observability, OTLP on 4317 and 4318)
    # for app stacks' tracing.endpoint; it exports where its values say (debug by default).
    otel_collector: AddonToggle = AddonToggle()


def _key(*parts: object) -> str:
    return f"{CLUSTER_NAMESPACE}:" + ".".join(str(part) for part in parts)


def parse_cluster_config(raw: dict[str, Any]) -> ClusterConfig:
    try:
        config = ClusterConfig.model_validate(raw)
    except ValidationError as exc:
        raise StackConfigError(
            [describe_error(error, CLUSTER_NAMESPACE) for error in exc.errors()]
        ) from None
    problems = []
    cm = config.cert_manager
    if cm.enabled and cm.email is None:
        problems.append(f"{_key('certManager', 'email')}: required for the ACME account")
    gateway = config.gateway
    if config.exposure == "gateway" and gateway.tls_hosts:
        if not cm.enabled:
            problems.append(
                f"{_key('gateway', 'tlsHosts')}: certificates for these hosts need "
                "certManager.enabled"
            )
        if gateway.cluster_issuer is None:
            problems.append(
                f"{_key('gateway', 'clusterIssuer')}: required with gateway.tlsHosts "
                "(letsencrypt-staging or letsencrypt-prod)"
            )
    if problems:
        raise StackConfigError(problems)
    return config


def load_cluster_config() -> ClusterConfig:
    """Read and validate the running cluster stack's config. Raises StackConfigError."""
    return parse_cluster_config(read_raw_config(CLUSTER_NAMESPACE, (), ClusterConfig))
