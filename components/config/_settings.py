"""The deployment's own stack sections (camelCase keys, as Pulumi config keys are written)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import PurePosixPath
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from components.config._fields import (
    Annotations,
    Cidr,
    DnsLabel,
    Duration,
    Host,
    LabelSelector,
    Model,
    Quantity,
)


class KubernetesSettings(Model):
    kubeconfig: str | None = Field(None, min_length=1)
    context: str | None = Field(None, min_length=1)


class ComputeResources(Model):
    cpu: Quantity
    memory: Quantity

    def quantities(self) -> dict[str, str]:
        """As a Kubernetes resource list: ``{"cpu": ..., "memory": ...}``."""
        return {"cpu": self.cpu, "memory": self.memory}


class ResourceSettings(Model):
    requests: ComputeResources = ComputeResources(cpu="100m", memory="256Mi")
    limits: ComputeResources = ComputeResources(cpu="1", memory="512Mi")


class QuotaSettings(Model):
    requests_cpu: Quantity = "4"
    requests_memory: Quantity = "8Gi"
    limits_cpu: Quantity = "8"
    limits_memory: Quantity = "16Gi"
    pods: int = Field(50, ge=1, le=10_000)


class LimitRangeSettings(Model):
    default_request: ComputeResources = ComputeResources(cpu="100m", memory="128Mi")
    default_limit: ComputeResources = ComputeResources(cpu="500m", memory="512Mi")
    max: ComputeResources = ComputeResources(cpu="4", memory="8Gi")


class RegistrySettings(Model):
    server: str = Field(min_length=1)
    username: str = Field(min_length=1)


# registry/path:tag or registry/path@sha256:digest, as FROM accepts it.
_BASE_IMAGE_PATTERN = (
    r"^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9._-]+)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)


_DIGEST_REF = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:[\w][\w.-]{0,127})?@sha256:[0-9a-f]{64}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")

# Valid both as a Kubernetes label value (app.kubernetes.io/version) and as an image tag.
_VERSION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def _version(value: str) -> str:
    if not _VERSION.match(value):
        raise ValueError(
            f"{value!r} must be valid as a label value and an image tag: at most 63 letters, "
            "digits, '.', '_' or '-', starting and ending with a letter or digit (like v1.2.0)"
        )
    return value


def _context_relative_dir(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or len(value) > 200:
        raise ValueError(
            f"{value!r} must be a directory inside the build context, like build/wheelhouse"
        )
    return value


def _digest_ref(value: str) -> str:
    if not _DIGEST_REF.match(value):
        raise ValueError(
            f"{value!r} is not digest-pinned like registry.example.com/agentsmcp@sha256:<64 hex>"
        )
    return value


def _repository(value: str) -> str:
    if not _REPOSITORY.match(value):
        raise ValueError(f"{value!r} is not a repository like registry.example.com/team/agentsmcp")
    return value


class ImageSettings(Model):
    ref: Annotated[str, AfterValidator(_digest_ref)] | None = None
    repository: Annotated[str, AfterValidator(_repository)] | None = None
    tag: str | None = Field(None, pattern=r"^[\w][\w.-]{0,127}$")
    # Unset: the build host's platform (an arm64 laptop builds for its arm64 kind node).
    platform: Literal["linux/amd64", "linux/arm64"] | None = None
    context: str = Field(".", min_length=1)
    dockerfile: str = Field("Dockerfile", min_length=1)
    version: Annotated[str, AfterValidator(_version)] = "0.1.0"
    registry: RegistrySettings | None = None
    # Optional Dockerfile build args: private-registry base images and an air-gapped wheelhouse.
    builder_image: str | None = Field(None, pattern=_BASE_IMAGE_PATTERN)
    runtime_image: str | None = Field(None, pattern=_BASE_IMAGE_PATTERN)
    wheelhouse: Annotated[str, AfterValidator(_context_relative_dir)] | None = None
    source_url: str | None = Field(None, pattern=r"^https://[\w.-]+(/[\w.~-]+)*$")

    def build_args(self, vcs_ref: str, build_date: str) -> dict[str, str]:
        optional = {
            "BUILDER_IMAGE": self.builder_image,
            "RUNTIME_IMAGE": self.runtime_image,
            "WHEELHOUSE": self.wheelhouse,
            "SOURCE_URL": self.source_url,
        }
        return {
            "VERSION": self.version,
            "VCS_REF": vcs_ref,
            "BUILD_DATE": build_date,
            **{name: value for name, value in optional.items() if value is not None},
        }


class ScalingPolicy(Model):
    stabilization_seconds: int = Field(ge=0, le=3600)
    percent: int = Field(ge=1, le=1000)
    period_seconds: int = Field(60, ge=1, le=1800)


# kube-prometheus-stack's Prometheus as the cluster stack installs it (release and namespace).
DEFAULT_PROMETHEUS_URL = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"


class KedaSettings(Model):
    """``autoscaling.scaler: keda``: a ScaledObject (KEDA must run in the cluster) scaling on the
    agent requests in flight per pod, read from Prometheus, besides the CPU/memory targets."""

    # The Prometheus KEDA's operator queries (its own network path, not the pods').
    prometheus_url: str = Field(DEFAULT_PROMETHEUS_URL, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    # Agent requests in flight per pod to scale at; unset: half of
    # serverConfig.server.max_inflight_runs, so pods are added well before any request is shed.
    target_inflight_per_pod: int | None = Field(None, ge=1, le=100_000)
    polling_interval_seconds: int = Field(15, ge=1, le=3600)
    cooldown_seconds: int = Field(300, ge=0, le=86_400)
    # While Prometheus cannot be read (failureThreshold polls in a row): at least this many
    # replicas, never fewer than are running. Unset: autoscaling.minReplicas.
    fallback_replicas: int | None = Field(None, ge=1, le=1000)
    failure_threshold: int = Field(3, ge=1, le=100)


class AutoscalingSettings(Model):
    enabled: bool = False
    # hpa: a HorizontalPodAutoscaler on CPU/memory; keda: a KEDA ScaledObject that also scales on
    # the agent requests in flight per pod (autoscaling.keda).
    scaler: Literal["hpa", "keda"] = "hpa"
    keda: KedaSettings = KedaSettings()
    min_replicas: int = Field(2, ge=1, le=1000)
    max_replicas: int = Field(10, ge=1, le=1000)
    cpu_utilization: int | None = Field(70, ge=1, le=100)
    memory_utilization: int | None = Field(80, ge=1, le=100)
    scale_up: ScalingPolicy = ScalingPolicy(stabilization_seconds=0, percent=100)
    scale_down: ScalingPolicy = ScalingPolicy(stabilization_seconds=300, percent=20)


class VpaSettings(Model):
    enabled: bool = False
    update_mode: Literal["Off", "Initial", "Recreate", "InPlaceOrRecreate", "Auto"] = "Off"


class PdbSettings(Model):
    enabled: bool = False
    min_available: int = Field(1, ge=1, le=1000)


class LoadBalancerSettings(Model):
    enabled: bool = False
    # Required when enabled: the cloud load balancer and the NetworkPolicy admit only these.
    source_ranges: list[Cidr] = Field(default_factory=list)
    annotations: Annotations = Field(default_factory=dict)


class TlsSettings(Model):
    enabled: bool = False
    cluster_issuer: DnsLabel | None = None
    secret_name: DnsLabel | None = None


class GatewaySettings(Model):
    name: DnsLabel
    namespace: DnsLabel
    section_name: DnsLabel | None = None


class ExposureSettings(Model):
    mode: Literal["none", "ingress", "gateway"] = "none"
    host: Host | None = None
    ingress_class_name: DnsLabel | None = None
    annotations: Annotations = Field(default_factory=dict)
    tls: TlsSettings = TlsSettings()
    gateway: GatewaySettings | None = None
    # /v1 (the API) and /health are routed; the OpenAPI document only when asked for.
    publish_openapi: bool = False


class PortSettings(Model):
    port: int = Field(ge=1, le=65535)
    end_port: int | None = Field(None, ge=1, le=65535)
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"

    @model_validator(mode="after")
    def _range(self) -> PortSettings:
        if self.end_port is not None and self.end_port < self.port:
            raise ValueError(f"endPort: must not be below port ({self.end_port} < {self.port})")
        return self


class PeerSettings(Model):
    """Pods selected by namespace name or labels and/or pod labels, or IP blocks (not both)."""

    namespace: DnsLabel | None = None
    namespace_labels: LabelSelector | None = None
    pod_labels: LabelSelector | None = None
    cidrs: list[Cidr] = Field(default_factory=list)
    except_cidrs: list[Cidr] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> PeerSettings:
        selects = (
            self.namespace is not None
            or self.namespace_labels is not None
            or self.pod_labels is not None
        )
        if self.namespace is not None and self.namespace_labels is not None:
            raise ValueError("namespaceLabels: give namespace or namespaceLabels, not both")
        if selects and self.cidrs:
            raise ValueError(
                "cidrs: a peer selects pods (namespace, namespaceLabels, podLabels) or IP blocks "
                "(cidrs), not both; use two entries"
            )
        if not selects and not self.cidrs:
            raise ValueError(
                "cidrs: give namespace, namespaceLabels, podLabels or cidrs "
                "(an empty peer would match everything)"
            )
        if self.except_cidrs and not self.cidrs:
            raise ValueError("exceptCidrs: only with cidrs")
        return self


class EgressRule(PeerSettings):
    ports: list[PortSettings] = Field(min_length=1)


class DnsSettings(Model):
    """Where pods resolve names: CoreDNS pods (namespace + labels) and node-local addresses."""

    namespace: DnsLabel = "kube-system"
    pod_labels: LabelSelector | None = None
    # NodeLocal DNSCache listens on a link-local address on every node (host network).
    cidrs: list[Cidr] = Field(default_factory=lambda: ["169.254.20.10/32"])


class NetworkPolicySettings(Model):
    # Unset: from the cluster stack (cluster.stack), else ingress-nginx and monitoring.
    ingress_controller_namespace: DnsLabel | None = None
    monitoring_namespace: DnsLabel | None = None
    dns: DnsSettings = DnsSettings()
    # Replaces the derived sources of public traffic (the ingress controller's namespace, or
    # the Gateway's); for Gateway data planes in another namespace, or node IPs.
    ingress_sources: list[PeerSettings] | None = Field(None, min_length=1)
    extra_egress: list[EgressRule] = Field(default_factory=list)
    upstream_ports: list[PortSettings] = Field(
        default_factory=lambda: [PortSettings(port=443)], min_length=1
    )
    private_cidrs: list[Cidr] = Field(
        default_factory=lambda: [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "169.254.0.0/16",
            "fc00::/7",
            "fe80::/10",
        ]
    )

    def egress_problem(self, url: str) -> str | None:
        """Why these rules would keep the pods from calling ``url``, or None if they allow it.

        Public addresses are reachable on ``upstreamPorts``; private and in-cluster ones only
        through ``extraEgress`` (whose peers cannot be matched to a host name before it
        resolves, so a rule with the right port counts)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if any(_covers(rule.ports, port) for rule in self.extra_egress):
            return None
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(
                host
            )
        except ValueError:
            address = None
        private = (
            any(address in ipaddress.ip_network(cidr) for cidr in self.private_cidrs)
            if address is not None
            else host == "localhost" or "." not in host or host.endswith(_CLUSTER_SUFFIXES)
        )
        if private:
            return (
                f"{host} is not a public address; add a networkPolicy.extraEgress rule for it "
                f"(its namespace and pod labels, or its CIDRs) with port {port}"
            )
        if not _covers(self.upstream_ports, port):
            allowed = ", ".join(str(p.port) for p in self.upstream_ports)
            return (
                f"port {port} is not in networkPolicy.upstreamPorts ({allowed}); add it there "
                "or in a networkPolicy.extraEgress rule"
            )
        return None


# Names that only resolve inside the cluster (Services), never to a public address.
_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local")


def _covers(ports: list[PortSettings], port: int) -> bool:
    return any(p.protocol == "TCP" and p.port <= port <= (p.end_port or p.port) for p in ports)


class AlertSettings(Model):
    enabled: bool = True
    error_ratio: float = Field(0.05, gt=0, lt=1)
    # Routes that call no LLM (health, metrics, /v1/models, /v1/agents...).
    latency_p99_seconds: float = Field(2.0, gt=0, le=3600)
    # Agent routes are alerted on time to first token instead of whole-completion latency.
    time_to_first_token_p99_seconds: float = Field(15.0, gt=0, le=3600)
    upstream_error_ratio: float = Field(0.2, gt=0, lt=1)
    rate_limited_per_second: float = Field(5.0, gt=0)
    overload_rejected_per_second: float = Field(1.0, gt=0)
    # MCP tool calls of one tool that fail (outcomes error and tool_error; cancelled excluded).
    mcp_tool_error_ratio: float = Field(0.1, gt=0, lt=1)
    # Tools agents' calls to one tool server that fail or time out (the model's invalid
    # arguments and rejected calls excluded).
    tool_server_error_ratio: float = Field(0.1, gt=0, lt=1)
    # A2A tasks of one agent that end failed (canceled ones excluded).
    a2a_task_failure_ratio: float = Field(0.1, gt=0, lt=1, alias="a2aTaskFailureRatio")
    for_duration: Duration = "10m"


class MonitoringSettings(Model):
    enabled: bool = True
    interval: Duration = "30s"
    # Unset: from the cluster stack (cluster.stack), else kube-prometheus-stack.
    release_label: str | None = Field(
        None, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
    )
    dashboard: bool = True
    alerts: AlertSettings = AlertSettings()


class ClusterSettings(Model):
    # The cluster stack's fully qualified name for pulumi.StackReference, e.g.
    # organization/agentsmcp-cluster/local (self-managed backend) or acme/agentsmcp-cluster/prod.
    stack: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*$",
    )


class PersistenceSettings(Model):
    enabled: bool = False
    size: Quantity = "1Gi"
    storage_class_name: DnsLabel | None = None


class ValkeySettings(Model):
    # A pinned release; pin it by digest too (repo/name:tag@sha256:...) where policy requires.
    image: str = Field("docker.io/valkey/valkey:8.1.4-alpine", pattern=_BASE_IMAGE_PATTERN)
    resources: ResourceSettings = ResourceSettings(
        requests=ComputeResources(cpu="50m", memory="64Mi"),
        limits=ComputeResources(cpu="500m", memory="256Mi"),
    )
    # Counters live a minute or a day: losing them on a restart costs little, so no disk.
    persistence: PersistenceSettings = PersistenceSettings()
    max_memory: str = Field("192mb", pattern=r"^[1-9][0-9]*(kb|mb|gb)$")


class ExternalStoreSettings(Model):
    # Where the store is, for the server's egress NetworkPolicy (its URL is the redisUrl secret).
    egress_cidrs: list[Cidr] = Field(default_factory=list)
    port: int = Field(6379, ge=1, le=65535)


class LimitsStoreSettings(Model):
    """The shared store for ``serverConfig.rate_limit.backend: redis``: ``valkey`` deploys one
    in the namespace, ``external`` uses an existing Redis/Valkey (``redisUrl`` secret)."""

    mode: Literal["none", "external", "valkey"] = "none"
    valkey: ValkeySettings = ValkeySettings()
    external: ExternalStoreSettings = ExternalStoreSettings()


class TracingSettings(Model):
    """OpenTelemetry traces (docs/operations.md#tracing-opentelemetry): the pods get the
    standard OTEL_* environment for an OTLP http/protobuf collector at ``endpoint`` (e.g.
    ``http://otel-collector.observability.svc:4318``). An in-cluster Service URL opens egress to
    its namespace and port; any other host needs ``egressCidrs``."""

    endpoint: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$", max_length=2048)
    # Share of traces started here that are kept (a caller's sampled flag is followed).
    sampler_ratio: float = Field(1.0, ge=0.0, le=1.0)
    egress_cidrs: list[Cidr] = Field(default_factory=list)


class SecretStoreRef(Model):
    """An External Secrets Operator store the cluster already has."""

    name: DnsLabel
    kind: Literal["SecretStore", "ClusterSecretStore"] = "ClusterSecretStore"


class RemoteSecret(Model):
    """One value in the store: its key (a Vault path, an AWS Secrets Manager secret name) and,
    for a structured secret, the property (a Vault KV field, a JSON key)."""

    key: str = Field(min_length=1, max_length=2048)
    property: str | None = Field(None, min_length=1, max_length=253)
    version: str | None = Field(None, min_length=1, max_length=253)


class ExternalSecretsSettings(Model):
    """The app's secrets from a secret store through an ExternalSecret (External Secrets
    Operator), instead of a Secret built from the stack's secret keys."""

    enabled: bool = False
    store: SecretStoreRef | None = None
    refresh_interval: Duration = "1h"
    # Secret file name (JWT_SECRET_KEY, OPENAI_API_KEY, TOOL_SERVER_<NAME>_TOKEN, ...) -> value.
    data: dict[str, RemoteSecret] = Field(default_factory=dict)
    # Store keys whose every property becomes a file under its own name.
    data_from: list[str] = Field(default_factory=list)


class DebugSettings(Model):
    enabled: bool = False
