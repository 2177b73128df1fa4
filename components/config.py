"""Typed stack configuration: every ``agentsmcp:*`` key, validated before any resource exists.

`load_stack_config()` reads the stack's config (``Pulumi.<stack>.yaml`` plus secrets set with
``pulumi config set --secret``) into one :class:`StackConfig`. Every problem becomes one line
``agentsmcp:<key.path>: <problem>`` in a :class:`StackConfigError`, which `__main__.py` turns into a
``pulumi.RunError`` so the CLI prints the lines without a traceback.

The server's own sections (``server``, ``auth``, ``rateLimit``, ``agents``, ``providers``) use the
same camelCase keys as the rest of the stack config; they are converted to the server's snake_case
and validated by the server's config model (`app.config.parse_config`), so there is one source of
truth for what the server accepts.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

from app.config import AgentSettings, parse_config
from app.config import ConfigError as ServerConfigError

NAMESPACE = "agentsmcp"
# For agents that do not set one: the server's own default.
AGENT_TIMEOUT_DEFAULT = float(AgentSettings.model_fields["timeout"].default)
SECRET_KEYS = (
    "openaiApiKey",
    "anthropicApiKey",
    "jwtSecretKey",
    "jwtPreviousSecretKey",
    "registryPassword",
    "redisUrl",
    "redisPassword",
)
SERVER_SECTIONS = {
    "server": "server",
    "auth": "auth",
    "rateLimit": "rate_limit",
    "agents": "agents",
    "providers": "providers",
}
# Settings the deployment owns: the pod listens on all interfaces, and secrets come from the Secret.
DEPLOYMENT_OWNED_SERVER_KEYS = {"host": "the pod always listens on 0.0.0.0; remove this key"}

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOST_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(\*\.)?{_HOST_LABEL}(\.{_HOST_LABEL})*$")
_DURATION = re.compile(r"^[1-9][0-9]*(s|m|h)$")
_DIGEST_REF = re.compile(r"^[a-z0-9]+([._/:-][a-z0-9]+)*(:[\w][\w.-]{0,127})?@sha256:[0-9a-f]{64}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity like 250m, 0.5, 512Mi or 2Gi")
    return value


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"{value!r} is not a DNS label (lowercase letters, digits, '-', max 63)")
    return value


def _host(value: str) -> str:
    if len(value) > 253 or not _HOST.match(value):
        raise ValueError(f"{value!r} is not a valid host name like api.example.com")
    return value


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration like 30s, 5m or 1h")
    return value


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        raise ValueError(f"{value!r} is not a network in CIDR notation like 10.0.0.0/8") from None


def _annotation_keys(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not _LABEL_KEY.match(key):
            raise ValueError(f"{key!r} is not a valid annotation key")
    return value


def _label_selector(value: dict[str, str]) -> dict[str, str]:
    for key, label in value.items():
        if not _LABEL_KEY.match(key):
            raise ValueError(f"{key!r} is not a valid label key")
        if not _LABEL_VALUE.match(label):
            raise ValueError(f"{label!r} (label {key}) is not a valid label value")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Host = Annotated[str, AfterValidator(_host)]
Duration = Annotated[str, AfterValidator(_duration)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Annotations = Annotated[dict[str, str], AfterValidator(_annotation_keys)]
LabelSelector = Annotated[dict[str, str], AfterValidator(_label_selector)]


class Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
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


class AutoscalingSettings(Model):
    enabled: bool = False
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
    for_duration: Duration = "10m"


class MonitoringSettings(Model):
    enabled: bool = True
    # The server's separate metrics listener; no Ingress or HTTPRoute routes it.
    port: int = Field(9090, ge=1024, le=65535)
    interval: Duration = "30s"
    # Unset: from the cluster stack (cluster.stack), else kube-prometheus-stack.
    release_label: str | None = Field(
        None, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
    )
    dashboard: bool = True
    alerts: AlertSettings = AlertSettings()


_STACK_PART = r"[A-Za-z0-9][-A-Za-z0-9_.]*"


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
    """The shared store for ``rateLimit.backend: redis``: ``valkey`` deploys one in the
    namespace, ``external`` uses an existing Redis/Valkey (``redisUrl`` secret)."""

    mode: Literal["none", "external", "valkey"] = "none"
    valkey: ValkeySettings = ValkeySettings()
    external: ExternalStoreSettings = ExternalStoreSettings()


class DebugSettings(Model):
    enabled: bool = False


class LoggingSettings(Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class StackConfig(Model):
    environment: Literal["development", "staging", "production"]
    namespace: DnsLabel
    kubernetes: KubernetesSettings = KubernetesSettings()
    image: ImageSettings = ImageSettings()
    replicas: int = Field(1, ge=0, le=1000)
    resources: ResourceSettings = ResourceSettings()
    quota: QuotaSettings = QuotaSettings()
    limit_range: LimitRangeSettings = LimitRangeSettings()
    autoscaling: AutoscalingSettings = AutoscalingSettings()
    vpa: VpaSettings = VpaSettings()
    pdb: PdbSettings = PdbSettings()
    topology_spread: bool = False
    load_balancer: LoadBalancerSettings = LoadBalancerSettings()
    exposure: ExposureSettings = ExposureSettings()
    network_policy: NetworkPolicySettings = NetworkPolicySettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    cluster: ClusterSettings = ClusterSettings()
    limits_store: LimitsStoreSettings = LimitsStoreSettings()
    debug: DebugSettings = DebugSettings()
    logging: LoggingSettings = LoggingSettings()
    pre_stop_seconds: int = Field(5, ge=0, le=300)
    termination_grace_period_seconds: int | None = Field(None, ge=1, le=3600)
    # The server's own sections, validated by app.config (see module docstring).
    server: dict[str, Any] = Field(default_factory=dict)
    auth: dict[str, Any] = Field(default_factory=dict)
    rate_limit: dict[str, Any] = Field(default_factory=dict)
    agents: dict[str, Any] = Field(default_factory=dict)
    providers: dict[str, Any] = Field(default_factory=dict)

    @property
    def server_config(self) -> dict[str, Any]:
        """The server's YAML (snake_case sections), without secrets or env-provided settings."""
        rendered: dict[str, Any] = {}
        for camel, snake in SERVER_SECTIONS.items():
            section = getattr(self, to_snake(camel))
            rendered[snake] = _snake_keys(section, keep_child_keys=snake in ("agents", "providers"))
        rendered["server"] = {**rendered["server"], "host": "0.0.0.0"}
        rendered["metrics"] = {"enabled": True, "port": self.monitoring.port}
        return rendered

    @property
    def server_env(self) -> dict[str, str]:
        """Plain (non-secret) environment the server reads; see app.config.ENV_OVERRIDES."""
        return {
            "AGENTSMCP_ENVIRONMENT": self.environment,
            "AGENTSMCP_LOG_LEVEL": self.logging.level,
            "AGENTSMCP_LOG_FORMAT": self.logging.format,
        }

    @property
    def longest_agent_request_seconds(self) -> int:
        """How long one agent request may take: its agent's timeout plus those of the fallback
        chain the runner may try after it (app.agents.runner), the longest over all agents."""

        def chain(name: str, seen: frozenset[str]) -> float:
            agent = self.agents.get(name)
            if not isinstance(agent, dict) or name in seen:
                return 0.0
            own = float(agent.get("timeout", AGENT_TIMEOUT_DEFAULT))
            fallback = agent.get("fallback")
            return own + (chain(fallback, seen | {name}) if isinstance(fallback, str) else 0.0)

        longest = max((chain(name, frozenset()) for name in self.agents), default=0.0)
        return int(-(-max(longest, AGENT_TIMEOUT_DEFAULT) // 1))

    @property
    def shared_limits(self) -> bool:
        """The server is configured for the shared limits store (``rateLimit.backend: redis``)."""
        return bool(
            self.rate_limit.get("enabled", True) and self.rate_limit.get("backend") == "redis"
        )

    @property
    def server_port(self) -> int:
        port = self.server.get("port", 8000)
        return int(port)

    @property
    def drain_seconds(self) -> float:
        return float(self.server.get("drainSeconds", 5.0))

    @property
    def shutdown_timeout_seconds(self) -> float:
        return float(self.server.get("shutdownTimeoutSeconds", 25.0))

    @property
    def minimum_grace_seconds(self) -> int:
        """preStop + drain + shutdown timeout, rounded up, plus a 5 s margin for SIGKILL."""
        total = self.pre_stop_seconds + self.drain_seconds + self.shutdown_timeout_seconds
        return int(-(-total // 1)) + 5

    @property
    def grace_seconds(self) -> int:
        return self.termination_grace_period_seconds or self.minimum_grace_seconds

    @property
    def hpa_scales_on_resources(self) -> bool:
        scaling = self.autoscaling
        return scaling.enabled and (
            scaling.cpu_utilization is not None or scaling.memory_utilization is not None
        )


class StackConfigError(ValueError):
    """Invalid stack config. ``problems`` holds one ``agentsmcp:key: problem`` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid stack configuration:\n" + "\n".join(f"  {line}" for line in problems)
        )


def _snake_keys(value: Any, *, keep_child_keys: bool = False) -> Any:
    if isinstance(value, Mapping):
        return {
            (key if keep_child_keys else to_snake(key)): _snake_keys(child)
            for key, child in value.items()
        }
    if isinstance(value, list):
        return [_snake_keys(item) for item in value]
    return value


def _key(*parts: object) -> str:
    return f"{NAMESPACE}:" + ".".join(str(part) for part in parts)


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate ``{key: value}`` (keys without the ``agentsmcp:`` prefix, secrets excluded)."""
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise StackConfigError([describe_error(error) for error in exc.errors()]) from None
    problems = _cross_checks(config)
    if problems:
        raise StackConfigError(problems)
    return config


def describe_error(error: Any, namespace: str = NAMESPACE) -> str:
    """One ``namespace:key.path: problem`` line for a pydantic error."""
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        # Model-level validators prefix their message with the field they are about.
        field, sep, rest = message.partition(": ")
        if sep and re.fullmatch(r"[a-zA-Z]+", field):
            loc.append(field)
            message = rest
    elif error["type"] == "missing":
        message = "required"
    return f"{namespace}:{'.'.join(loc)}: {message}" if loc else f"{namespace}: {message}"


def _cross_checks(config: StackConfig) -> list[str]:
    problems: list[str] = []
    scaling = config.autoscaling
    if scaling.enabled:
        if scaling.min_replicas > scaling.max_replicas:
            problems.append(
                f"{_key('autoscaling', 'maxReplicas')}: must be at least autoscaling.minReplicas "
                f"({scaling.max_replicas} < {scaling.min_replicas})"
            )
        if scaling.cpu_utilization is None and scaling.memory_utilization is None:
            problems.append(
                f"{_key('autoscaling', 'cpuUtilization')}: set a CPU or memory target, "
                "or disable autoscaling"
            )
    if (
        config.vpa.enabled
        and config.hpa_scales_on_resources
        and config.vpa.update_mode
        not in (
            "Off",
            "Initial",
        )
    ):
        problems.append(
            f"{_key('vpa', 'updateMode')}: {config.vpa.update_mode!r} fights the HPA scaling on "
            "CPU/memory; use 'Off' (recommendations only) or 'Initial'"
        )
    if config.pdb.enabled:
        floor = scaling.min_replicas if scaling.enabled else config.replicas
        if config.pdb.min_available >= floor:
            problems.append(
                f"{_key('pdb', 'minAvailable')}: must be below the minimum replica count "
                f"({floor}), or no pod could ever be evicted and node drains would hang"
            )
    exposure = config.exposure
    if exposure.mode != "none" and exposure.host is None:
        problems.append(
            f"{_key('exposure', 'host')}: required when exposure.mode is {exposure.mode!r}"
        )
    if exposure.mode == "gateway" and exposure.gateway is None and config.cluster.stack is None:
        problems.append(
            f"{_key('exposure', 'gateway')}: required when exposure.mode is 'gateway' "
            "(or set cluster.stack to take the cluster stack's Gateway)"
        )
    if exposure.mode == "ingress" and exposure.tls.enabled:
        if exposure.tls.cluster_issuer is None:
            problems.append(
                f"{_key('exposure', 'tls', 'clusterIssuer')}: required when TLS is enabled"
            )
        if exposure.tls.secret_name is None:
            problems.append(
                f"{_key('exposure', 'tls', 'secretName')}: required when TLS is enabled"
            )
    if config.environment == "production" and (exposure.mode == "none" or not exposure.tls.enabled):
        problems.append(
            f"{_key('exposure', 'tls', 'enabled')}: production must be exposed with TLS "
            "(exposure.mode ingress or gateway, and exposure.tls.enabled true)"
        )
    if config.environment == "production" and config.debug.enabled:
        problems.append(
            f"{_key('debug', 'enabled')}: debug mode turns off probes; not in production"
        )
    image = config.image
    if image.ref is None and image.repository is None:
        problems.append(
            f"{_key('image', 'repository')}: set image.repository to build, or image.ref"
        )
    if image.ref is not None and image.repository is not None:
        problems.append(
            f"{_key('image', 'ref')}: set either image.ref or image.repository, not both"
        )
    balancer = config.load_balancer
    if balancer.enabled and config.environment == "production":
        problems.append(
            f"{_key('loadBalancer', 'enabled')}: the LoadBalancer Service serves plain HTTP; "
            "production is exposed only through exposure (ingress or gateway) with TLS"
        )
    if balancer.enabled and not balancer.source_ranges:
        problems.append(
            f"{_key('loadBalancer', 'sourceRanges')}: required when loadBalancer.enabled; the "
            "load balancer and the NetworkPolicy admit only these networks (0.0.0.0/0 for all)"
        )
    store = config.limits_store
    if config.shared_limits and store.mode == "none":
        problems.append(
            f"{_key('limitsStore', 'mode')}: rateLimit.backend is redis; set 'valkey' to deploy "
            "a store in the namespace or 'external' to use an existing one"
        )
    if store.mode != "none" and not config.shared_limits:
        problems.append(
            f"{_key('rateLimit', 'backend')}: must be 'redis' while limitsStore.mode is "
            f"{store.mode!r} (or set limitsStore.mode to 'none')"
        )
    if store.mode == "external" and not store.external.egress_cidrs:
        problems.append(
            f"{_key('limitsStore', 'external', 'egressCidrs')}: required with an external store "
            "(the networks the server may reach it on, like 10.20.0.0/16)"
        )
    server_problems = _server_problems(config)
    # The grace period is computed from server settings, so only once those are known good.
    if (
        not server_problems
        and config.termination_grace_period_seconds is not None
        and config.termination_grace_period_seconds < config.minimum_grace_seconds
    ):
        problems.append(
            f"{_key('terminationGracePeriodSeconds')}: must be at least "
            f"{config.minimum_grace_seconds} (preStopSeconds + server.drainSeconds + "
            "server.shutdownTimeoutSeconds + 5)"
        )
    if not server_problems and config.monitoring.port == config.server_port:
        problems.append(
            f"{_key('monitoring', 'port')}: must differ from server.port ({config.server_port})"
        )
    problems.extend(server_problems)
    return problems


def _server_problems(config: StackConfig) -> list[str]:
    problems: list[str] = []
    for key, why in DEPLOYMENT_OWNED_SERVER_KEYS.items():
        if key in config.server:
            problems.append(f"{_key('server', key)}: {why}")
    rendered = {
        **config.server_config,
        "environment": config.environment,
        "logging": {"level": config.logging.level, "format": config.logging.format},
    }
    # The real secret arrives from the Kubernetes Secret; a stand-in lets the model check the rest.
    rendered["jwt_secret_key"] = "x" * 64
    rendered["redis_url"] = "redis://limits-store:6379/0"
    try:
        parse_config(rendered)
    except ServerConfigError as exc:
        for line in exc.problems:
            problems.append(_server_key(line))
    return problems


_SNAKE_TO_CAMEL_SECTION = {snake: camel for camel, snake in SERVER_SECTIONS.items()}


def _server_key(line: str) -> str:
    path, sep, message = line.partition(": ")
    if not sep:
        return f"{NAMESPACE}: {line}"
    parts = path.split(".")
    section = parts[0]
    if section in _SNAKE_TO_CAMEL_SECTION:
        keep = 2 if section in ("agents", "providers") else 1
        parts = [
            _SNAKE_TO_CAMEL_SECTION[section],
            *parts[1:keep],
            *(to_camel(part) for part in parts[keep:]),
        ]
    elif section == "logging":
        parts = ["logging", *parts[1:]]
    elif section == "metrics":
        parts = ["monitoring", *parts[1:]]
    return f"{_key(*parts)}: {message}"


def known_keys(model: type[BaseModel]) -> set[str]:
    """The top-level stack keys ``model`` accepts (camelCase, as in ``Pulumi.<stack>.yaml``)."""
    return {field.alias or to_camel(name) for name, field in model.model_fields.items()}


def read_raw_config(
    namespace: str = NAMESPACE,
    secret_keys: tuple[str, ...] = SECRET_KEYS,
    model: type[BaseModel] | None = None,
) -> dict[str, Any]:
    """Every ``namespace:`` setting of the running stack (without prefix), secrets excluded.

    Public APIs only: the keys the CLI passes (``get_config_env``, i.e. ``PULUMI_CONFIG``; this is
    how unknown keys are found) plus every key ``model`` knows, read with ``get_config`` (which
    also sees config set through the Automation API)."""
    prefix = f"{namespace}:"
    known = known_keys(StackConfig if model is None else model)
    keys = set(pulumi.runtime.get_config_env()) | {prefix + key for key in known}
    raw: dict[str, Any] = {}
    for full_key in sorted(keys):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key in secret_keys:
            continue
        value = pulumi.runtime.get_config(full_key)
        if value is not None:
            raw[key] = _decode(value)
    return raw


def _decode(value: Any) -> Any:
    # The CLI hands structured values over as JSON text; scalars stay text for pydantic to coerce.
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


class Secrets:
    """Secret config values, each a secret Output (or None when unset)."""

    def __init__(self, config: pulumi.Config) -> None:
        self.openai_api_key = config.get_secret("openaiApiKey")
        self.anthropic_api_key = config.get_secret("anthropicApiKey")
        self.jwt_secret_key = config.get_secret("jwtSecretKey")
        self.jwt_previous_secret_key = config.get_secret("jwtPreviousSecretKey")
        self.registry_password = config.get_secret("registryPassword")
        self.redis_url = config.get_secret("redisUrl")
        self.redis_password = config.get_secret("redisPassword")


def load_stack_config() -> tuple[StackConfig, Secrets]:
    """Read and validate the running stack's config. Raises StackConfigError."""
    config = parse_stack_config(read_raw_config())
    secrets = Secrets(pulumi.Config(NAMESPACE))
    problems = []
    if config.image.registry is not None and secrets.registry_password is None:
        problems.append(
            f"{_key('registryPassword')}: required with image.registry; set it with "
            "`pulumi config set --secret registryPassword`"
        )
    if config.limits_store.mode == "external" and secrets.redis_url is None:
        problems.append(
            f"{_key('redisUrl')}: required with limitsStore.mode external; set it with "
            "`pulumi config set --secret redisUrl redis://host:6379/0`"
        )
    # The server runs in development without a provider's key (its agents answer 503).
    used = {str(a.get("provider")) for a in config.agents.values() if isinstance(a, dict)}
    for provider in sorted(used if config.environment != "development" else ()):
        secret_key = {"openai": "openaiApiKey", "anthropic": "anthropicApiKey"}.get(provider)
        if secret_key and getattr(secrets, to_snake(secret_key)) is None:
            problems.append(
                f"{_key(secret_key)}: required because an agent uses {provider}; set it with "
                f"`pulumi config set --secret {secret_key}`"
            )
    if problems:
        raise StackConfigError(problems)
    return config, secrets
