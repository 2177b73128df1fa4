"""The whole stack config (:class:`StackConfig`) and its validation into one-line problems.

The server's configuration is one stack key, ``serverConfig``, holding the YAML ``python -m app``
reads (snake_case, secrets excluded); the server's own model (`app.config.AppConfig`) validates
it, and the facts the deployment needs (ports, drain and shutdown times, agent timeouts, the
rate-limit backend) are read from that validated model.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationError
from pydantic.alias_generators import to_camel

from app.config import (
    ENV_OVERRIDES,
    SECRET_ENV,
    SHUTDOWN_TAIL_SECONDS,
    AgentSettings,
    AppConfig,
    parse_config,
    tool_server_token_env,
)
from app.config import ConfigError as ServerConfigError
from components.config._fields import DnsLabel, Model
from components.config._settings import (
    AutoscalingSettings,
    ClusterSettings,
    DebugSettings,
    ExposureSettings,
    ExternalSecretsSettings,
    ImageSettings,
    KubernetesSettings,
    LimitRangeSettings,
    LimitsStoreSettings,
    LoadBalancerSettings,
    MonitoringSettings,
    NetworkPolicySettings,
    PdbSettings,
    QuotaSettings,
    ResourceSettings,
    TracingSettings,
    VpaSettings,
)

NAMESPACE = "agentsmcp"
# The stack key that holds the server's configuration file.
SERVER_CONFIG_KEY = "serverConfig"
SECRET_KEYS = (
    "openaiApiKey",
    "anthropicApiKey",
    "jwtSecretKey",
    "jwtPreviousSecretKey",
    "registryPassword",
    "redisUrl",
    "redisPassword",
    # {tool server name: bearer token}, for serverConfig.tool_servers with auth bearer.
    "toolServerTokens",
)
TOOL_SERVER_TOKENS_KEY = "toolServerTokens"
# The metrics listener when serverConfig.metrics.port is unset: the deployment keeps /metrics off
# the public port (the NetworkPolicy admits only Prometheus to it).
DEFAULT_METRICS_PORT = 9090
# For agents that do not set one: the server's own default.
AGENT_TIMEOUT_DEFAULT = float(AgentSettings.model_fields["timeout"].default)
# serverConfig keys the deployment sets itself.
DEPLOYMENT_OWNED_KEYS: dict[tuple[str, ...], str] = {
    ("environment",): "set by agentsmcp:environment; remove this key",
    ("server", "host"): "the pod always listens on 0.0.0.0; remove this key",
    ("secret_files",): "the deployment mounts the secrets as files; remove this key",
}
# Stack keys from before the server's configuration moved under serverConfig.
MOVED_KEYS: dict[tuple[str, ...], str] = {
    ("server",): "server",
    ("auth",): "auth",
    ("rateLimit",): "rate_limit",
    ("agents",): "agents",
    ("providers",): "providers",
    ("logging",): "logging",
    ("monitoring", "port"): "metrics.port",
}
# serverConfig sections the pods get as environment variables (the server's ENV_OVERRIDES), not
# in the ConfigMap: a log level is what one changes on a running deployment, and a changed
# variable touches the Deployment alone (a changed file is a new ConfigMap, components.workload).
ENV_SECTIONS = frozenset({"logging"})
# What stands in for the secrets while validating: they come from the Kubernetes Secret.
_SECRET_STAND_INS = {"jwt_secret_key": "x" * 64, "redis_url": "redis://limits-store:6379/0"}


@dataclass(frozen=True)
class ToolServerDestination:
    name: str
    url: str
    # The Service's namespace for in-cluster URLs, else None.
    namespace: str | None
    port: int


_SERVICE_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _service_namespace(url: str, own_namespace: str) -> tuple[str | None, int]:
    """``(namespace, port)`` of a Service URL (``svc``, ``svc.ns.svc``,
    ``svc.ns.svc.cluster.local``); namespace None for any other host. ``svc.ns`` alone is not
    taken for a Service: it cannot be told from a public name like ``example.com``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    labels = host.removesuffix(".cluster.local").split(".")
    if len(labels) == 1 and _SERVICE_HOST.match(labels[0]):
        return own_namespace, port
    if len(labels) == 3 and labels[2] == "svc" and all(map(_SERVICE_HOST.match, labels[:2])):
        return labels[1], port
    return None, port


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
    tracing: TracingSettings = TracingSettings()
    external_secrets: ExternalSecretsSettings = ExternalSecretsSettings()
    debug: DebugSettings = DebugSettings()
    pre_stop_seconds: int = Field(5, ge=0, le=300)
    termination_grace_period_seconds: int | None = Field(None, ge=1, le=3600)
    # The server's YAML without secrets, as written in the stack file; see server_file and app.
    server_config: dict[str, Any] = Field(default_factory=dict)
    _app: AppConfig | None = PrivateAttr(None)

    @property
    def app(self) -> AppConfig:
        """The server's configuration, validated by the server's model (without secrets)."""
        if self._app is None:
            raise RuntimeError("the server's configuration is validated by parse_stack_config")
        return self._app

    @property
    def pod_config(self) -> dict[str, Any]:
        """serverConfig plus what the deployment owns: the configuration the pod's server runs
        with, delivered as :attr:`server_file` and :attr:`server_env`."""
        data = copy.deepcopy(self.server_config)
        server = data.get("server", {})
        if isinstance(server, dict):
            data["server"] = {**server, "host": "0.0.0.0"}
        metrics = data.get("metrics", {})
        if isinstance(metrics, dict):
            data["metrics"] = {"enabled": True, "port": DEFAULT_METRICS_PORT, **metrics}
        a2a = data.get("a2a", {})
        base_url = self.public_https_url
        if isinstance(a2a, dict) and base_url is not None:
            # The agent cards' URLs: the stack's host (behind TLS termination the pod sees http).
            data["a2a"] = {"public_base_url": base_url, **a2a}
        return data

    @property
    def public_https_url(self) -> str | None:
        """``https://<exposure.host>`` when the stack exposes the server with TLS."""
        exposure = self.exposure
        if exposure.mode == "none" or exposure.host is None or not exposure.tls.enabled:
            return None
        return f"https://{exposure.host}"

    @property
    def tool_server_destinations(self) -> list[ToolServerDestination]:
        """Where each configured tool server is: a Service in a namespace (by its URL's host),
        or somewhere outside the cluster (namespace None)."""
        return [
            ToolServerDestination(name, server.url, *_service_namespace(server.url, self.namespace))
            for name, server in sorted(self.app.tool_servers.items())
        ]

    @property
    def bearer_tool_servers(self) -> list[str]:
        """Tool servers whose token the deployment must provide (toolServerTokens)."""
        return sorted(n for n, s in self.app.tool_servers.items() if s.auth == "bearer")

    @property
    def server_file(self) -> dict[str, Any]:
        """The YAML file the pod's server reads (the ConfigMap): :attr:`pod_config` except the
        sections in :data:`ENV_SECTIONS`."""
        return {k: v for k, v in self.pod_config.items() if k not in ENV_SECTIONS}

    @property
    def server_env(self) -> dict[str, str]:
        """Plain (non-secret) environment the server reads: the stack's environment and the
        :data:`ENV_SECTIONS`, through the server's own overrides (app.config.ENV_OVERRIDES)."""
        env: dict[str, str] = {"AGENTSMCP_ENVIRONMENT": self.environment}
        for var, (section, *path) in ENV_OVERRIDES.items():
            if section in ENV_SECTIONS:
                value: Any = getattr(self.app, section)
                for part in path:
                    value = getattr(value, part)
                env[var] = str(value)
        return {**env, **self.tracing_env}

    @property
    def tracing_env(self) -> dict[str, str]:
        """The standard OpenTelemetry environment for ``tracing`` (none without an endpoint)."""
        tracing = self.tracing
        if tracing.endpoint is None:
            return {}
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": tracing.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "agentsmcp",
            "OTEL_RESOURCE_ATTRIBUTES": (
                f"deployment.environment.name={self.environment},"
                f"k8s.namespace.name={self.namespace}"
            ),
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": f"{tracing.sampler_ratio:g}",
        }

    @property
    def tracing_destination(self) -> tuple[str | None, int] | None:
        """``(namespace, port)`` of the collector (namespace None outside the cluster)."""
        endpoint = self.tracing.endpoint
        return None if endpoint is None else _service_namespace(endpoint, self.namespace)

    @property
    def longest_agent_request_seconds(self) -> int:
        """How long one agent request may take: its agent's timeout plus those of the fallback
        chain the runner may try after it (app.agents.runner), the longest over all agents."""
        agents = self.app.agents

        def chain(name: str, seen: frozenset[str]) -> float:
            agent = agents.get(name)
            if agent is None or name in seen:
                return 0.0
            rest = chain(agent.fallback, seen | {name}) if agent.fallback is not None else 0.0
            return agent.timeout + rest

        longest = max((chain(name, frozenset()) for name in agents), default=0.0)
        return int(-(-max(longest, AGENT_TIMEOUT_DEFAULT) // 1))

    @property
    def shared_limits(self) -> bool:
        """The server uses the shared limits store (``rate_limit.backend: redis``)."""
        limits = self.app.rate_limit
        return limits.enabled and limits.backend == "redis"

    @property
    def server_port(self) -> int:
        return self.app.server.port

    @property
    def metrics_port(self) -> int:
        """The server's separate metrics listener; no Ingress or HTTPRoute routes it."""
        return self.app.metrics.port or DEFAULT_METRICS_PORT

    @property
    def drain_seconds(self) -> float:
        return self.app.server.drain_seconds

    @property
    def shutdown_timeout_seconds(self) -> float:
        return self.app.server.shutdown_timeout_seconds

    @property
    def minimum_grace_seconds(self) -> int:
        """preStop + drain + shutdown timeout + what the server's shutdown takes after that
        (streams' final events, the last spans' export, exit), rounded up."""
        total = self.pre_stop_seconds + self.drain_seconds + self.shutdown_timeout_seconds
        return math.ceil(total + SHUTDOWN_TAIL_SECONDS)

    @property
    def grace_seconds(self) -> int:
        return self.termination_grace_period_seconds or self.minimum_grace_seconds

    @property
    def keda_target_inflight(self) -> int:
        """Agent requests in flight per pod the KEDA ScaledObject scales at."""
        target = self.autoscaling.keda.target_inflight_per_pod
        return target or max(1, self.app.server.max_inflight_runs // 2)

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


def _key(*parts: object) -> str:
    return f"{NAMESPACE}:" + ".".join(str(part) for part in parts)


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate ``{key: value}`` (keys without the ``agentsmcp:`` prefix, secrets excluded)."""
    try:
        config = StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise StackConfigError(
            [describe_error(error, moved=MOVED_KEYS) for error in exc.errors()]
        ) from None
    app, problems = _validate_server(config)
    if app is not None:
        config._app = app
    problems = _cross_checks(config) + problems
    if problems:
        raise StackConfigError(problems)
    return config


def describe_error(
    error: Any,
    namespace: str = NAMESPACE,
    moved: Mapping[tuple[str, ...], str] | None = None,
) -> str:
    """One ``namespace:key.path: problem`` line for a pydantic error."""
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown key"
        if moved and tuple(loc) in moved:
            message += (
                f" (the server's configuration is agentsmcp:{SERVER_CONFIG_KEY}, in the server's"
                f" own YAML shape: move this to agentsmcp:{SERVER_CONFIG_KEY}.{moved[tuple(loc)]}"
                " with snake_case keys)"
            )
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


def _validate_server(config: StackConfig) -> tuple[AppConfig | None, list[str]]:
    """The server's model over the file the pod will read, with stand-ins for the secrets."""
    data = config.pod_config
    problems: list[str] = []
    for path, why in DEPLOYMENT_OWNED_KEYS.items():
        node: Any = config.server_config
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            problems.append(f"{_key(SERVER_CONFIG_KEY, *path)}: {why}")
    for field in SECRET_ENV.values():
        if field in data:
            problems.append(
                f"{_key(SERVER_CONFIG_KEY, field)}: secrets are separate secret stack keys; "
                f"set it with `pulumi config set --secret {to_camel(field)}`"
            )
    # Reported above; dropped so that the rest is still checked.
    for field in ("environment", "secret_files", *SECRET_ENV.values()):
        data.pop(field, None)
    servers = data.get("tool_servers")
    tokens = {
        tool_server_token_env(name): "x" * 32
        for name, server in (servers.items() if isinstance(servers, dict) else ())
        if isinstance(name, str) and isinstance(server, dict) and server.get("auth") == "bearer"
    }
    try:
        app = parse_config(
            {
                **data,
                **_SECRET_STAND_INS,
                "tool_server_tokens": tokens,
                "environment": config.environment,
            },
            env_paths=None,
        )
    except ServerConfigError as exc:
        return None, problems + [f"{_key(SERVER_CONFIG_KEY)}.{line}" for line in exc.problems]
    if problems:
        return None, problems
    return app.model_copy(update={**dict.fromkeys(_SECRET_STAND_INS), "tool_server_tokens": {}}), []


def _cross_checks(config: StackConfig) -> list[str]:
    problems = [*_scaling_checks(config), *_exposure_checks(config), *_deployment_checks(config)]
    # The rest is computed from the server's configuration, so only once that is known good.
    if config._app is not None:
        problems.extend(_server_cross_checks(config))
    return problems


def _scaling_checks(config: StackConfig) -> list[str]:
    """Autoscaling, the VPA and the PDB agree with each other and with the replica count."""
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
        and config.vpa.update_mode not in ("Off", "Initial")
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
    return problems


def _exposure_checks(config: StackConfig) -> list[str]:
    problems: list[str] = []
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
    return problems


def _deployment_checks(config: StackConfig) -> list[str]:
    """Debug mode, the image, the LoadBalancer Service and the limits store."""
    problems: list[str] = []
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
    if store.mode == "external" and not store.external.egress_cidrs:
        problems.append(
            f"{_key('limitsStore', 'external', 'egressCidrs')}: required with an external store "
            "(the networks the server may reach it on, like 10.20.0.0/16)"
        )
    destination = config.tracing_destination
    if destination is not None and destination[0] is None and not config.tracing.egress_cidrs:
        problems.append(
            f"{_key('tracing', 'egressCidrs')}: required with a collector outside the cluster "
            "(the networks the server may reach it on, like 10.20.0.0/16)"
        )
    return problems


def _server_cross_checks(config: StackConfig) -> list[str]:
    problems: list[str] = []
    store = config.limits_store
    backend = _key(SERVER_CONFIG_KEY, "rate_limit", "backend")
    if config.shared_limits and store.mode == "none":
        problems.append(
            f"{_key('limitsStore', 'mode')}: {SERVER_CONFIG_KEY}.rate_limit.backend is redis; "
            "set 'valkey' to deploy a store in the namespace or 'external' to use an existing one"
        )
    if store.mode != "none" and not config.shared_limits:
        problems.append(
            f"{backend}: must be 'redis' while limitsStore.mode is {store.mode!r} "
            "(or set limitsStore.mode to 'none')"
        )
    problems.extend(keda_problems(config))
    problems.extend(external_secrets_problems(config))
    if (
        config.termination_grace_period_seconds is not None
        and config.termination_grace_period_seconds < config.minimum_grace_seconds
    ):
        problems.append(
            f"{_key('terminationGracePeriodSeconds')}: must be at least "
            f"{config.minimum_grace_seconds} (preStopSeconds + {SERVER_CONFIG_KEY}.server."
            f"drain_seconds + {SERVER_CONFIG_KEY}.server.shutdown_timeout_seconds + "
            f"{SHUTDOWN_TAIL_SECONDS:g})"
        )
    problems.extend(oidc_egress_problems(config))
    problems.extend(tool_server_egress_problems(config))
    metrics = config.app.metrics
    if config.monitoring.enabled and not metrics.enabled:
        problems.append(
            f"{_key(SERVER_CONFIG_KEY, 'metrics', 'enabled')}: must be true while "
            "monitoring.enabled (Prometheus scrapes it)"
        )
    if config.metrics_port < 1024:
        problems.append(
            f"{_key(SERVER_CONFIG_KEY, 'metrics', 'port')}: must be 1024 or above "
            "(the server runs as a non-root user)"
        )
    return problems


def secret_file_names(config: StackConfig) -> set[str]:
    """The files the server reads from its Secret (app.config.SECRET_ENV and the bearer tool
    servers' tokens)."""
    return set(SECRET_ENV) | {tool_server_token_env(n) for n in config.bearer_tool_servers}


def required_secret_files(config: StackConfig) -> set[str]:
    """The files the server cannot run without in this stack."""
    providers = {agent.provider for agent in config.app.agents.values()}
    required = {"JWT_SECRET_KEY"}
    if config.environment != "development":
        required |= {f"{provider.upper()}_API_KEY" for provider in providers}
    if config.limits_store.mode == "external":
        required.add("REDIS_URL")
    return required | {tool_server_token_env(n) for n in config.bearer_tool_servers}


def external_secrets_problems(config: StackConfig) -> list[str]:
    external = config.external_secrets
    if not external.enabled:
        return []
    problems = []
    if external.store is None:
        problems.append(
            f"{_key('externalSecrets', 'store')}: required with externalSecrets.enabled "
            "(the name and kind of a SecretStore or ClusterSecretStore)"
        )
    if not external.data and not external.data_from:
        problems.append(
            f"{_key('externalSecrets', 'data')}: give data (file name -> store key) or dataFrom "
            "(store keys whose properties are the files)"
        )
    known = secret_file_names(config)
    problems += [
        f"{_key('externalSecrets', 'data', name)}: not a file the server reads; one of "
        f"{', '.join(sorted(known))}"
        for name in sorted(set(external.data) - known)
    ]
    if not external.data_from:
        problems += [
            f"{_key('externalSecrets', 'data', name)}: required (the server needs it here)"
            for name in sorted(required_secret_files(config) - set(external.data))
        ]
    if config.limits_store.mode == "valkey":
        problems.append(
            f"{_key('externalSecrets', 'enabled')}: limitsStore.mode valkey keeps its password in "
            "the stack; with secrets from a store use limitsStore.mode external (REDIS_URL and "
            "REDIS_PASSWORD in the store)"
        )
    return problems


def keda_problems(config: StackConfig) -> list[str]:
    scaling = config.autoscaling
    if scaling.scaler != "keda":
        return []
    if not scaling.enabled:
        return [f"{_key('autoscaling', 'scaler')}: 'keda' needs autoscaling.enabled true"]
    problems = []
    limit = config.app.server.max_inflight_runs
    if config.keda_target_inflight > limit:
        problems.append(
            f"{_key('autoscaling', 'keda', 'targetInflightPerPod')}: must not exceed "
            f"{SERVER_CONFIG_KEY}.server.max_inflight_runs ({config.keda_target_inflight} > "
            f"{limit}): pods would shed requests before a new one is added"
        )
    fallback = scaling.keda.fallback_replicas
    if fallback is not None and not scaling.min_replicas <= fallback <= scaling.max_replicas:
        problems.append(
            f"{_key('autoscaling', 'keda', 'fallbackReplicas')}: must be between "
            f"autoscaling.minReplicas and maxReplicas ({scaling.min_replicas}-"
            f"{scaling.max_replicas}), got {fallback}"
        )
    return problems


def oidc_egress_problems(config: StackConfig) -> list[str]:
    """The pods fetch the OpenID provider's discovery document and JWKS over HTTPS
    (``auth.oidc.issuer``, ``auth.oidc.jwks_uri``): the egress policy must allow both."""
    # auth.oidc is the MCP branch's (app.config.OidcSettings); absent, there is nothing to reach.
    oidc = getattr(config.app.auth, "oidc", None)
    problems = []
    for field in ("issuer", "jwks_uri"):
        url = getattr(oidc, field, None)
        why = config.network_policy.egress_problem(str(url)) if url else None
        if why is not None:
            problems.append(
                f"{_key(SERVER_CONFIG_KEY, 'auth', 'oidc', field)}: the pods could not reach "
                f"{url}: {why}"
            )
    return problems


def tool_server_egress_problems(config: StackConfig) -> list[str]:
    """In-cluster tool servers get an egress rule of their own (components.network); the others
    must be reachable through the rules for public upstreams or ``extraEgress``."""
    problems = []
    for destination in config.tool_server_destinations:
        if destination.namespace is not None:
            continue
        why = config.network_policy.egress_problem(destination.url)
        if why is not None:
            problems.append(
                f"{_key(SERVER_CONFIG_KEY, 'tool_servers', destination.name, 'url')}: the pods "
                f"could not reach {destination.url}: {why} (in-cluster Services: write the URL "
                "as http://<service>.<namespace>.svc:<port>/...)"
            )
    return problems
