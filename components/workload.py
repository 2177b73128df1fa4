"""The server workload: ConfigMap, ServiceAccount, Deployment, Services, PDB, NetworkPolicy."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from app.secret_files import SECRETS_DIR_ENV
from components import network
from components.config import StackConfig
from components.kube import (
    APP_NAME,
    CONFIG_FILE_NAME,
    CONFIG_MOUNT_DIR,
    CONTAINER_NAME,
    RUN_AS_ID,
    KubeComponent,
    child_opts,
    container_security_context,
    pod_security_context,
    resource_requirements,
    selector_labels,
    tcp_container_port,
    tcp_service_port,
)

# The server config's ConfigMap is named by its content (CONFIG_MAP_PREFIX-<hash>): a change
# creates a new one, rolls the Deployment onto it, then deletes the old one (docs/stack-config.md).
CONFIG_MAP_PREFIX = "agentsmcp-config"
CONFIG_HASH_LENGTH = 10
# Pod template annotation holding AppSecrets.revision: a secret change rolls the pods.
SECRET_REVISION_ANNOTATION = "checksum/secrets"  # noqa: S105 (a name, not a value)
# Where the Secret's keys appear as files; the server reads them through AGENTSMCP_SECRETS_DIR.
SECRETS_MOUNT_DIR = "/var/run/secrets/agentsmcp"
SERVICE_NAME = APP_NAME
LOAD_BALANCER_NAME = f"{APP_NAME}-public"
SERVICE_PORT = 80
PORT_NAME = "http"
METRICS_PORT_NAME = "metrics"
STARTUP_PATH = "/health"
READINESS_PATH = "/health/ready"
LIVENESS_PATH = "/health/live"
# Debug mode keeps the container up without the server, and exits promptly on SIGTERM as PID 1.
DEBUG_COMMAND = [
    "python",
    "-c",
    "import signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); signal.pause()",
]


def render_server_yaml(config: StackConfig) -> str:
    return yaml.safe_dump(config.server_file, sort_keys=True, default_flow_style=False)


def config_hash(server_yaml: str) -> str:
    """The part of the ConfigMap's name (and of its Pulumi resource name) its content decides."""
    return hashlib.sha256(server_yaml.encode()).hexdigest()[:CONFIG_HASH_LENGTH]


@dataclass(frozen=True)
class AgentServerArgs:
    stack: str
    config: StackConfig
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    image_ref: pulumi.Input[str]
    # Outputs of the Secrets (not constant names), so the Deployment waits for them.
    secret_name: pulumi.Input[str]
    # Changes exactly when the secrets' values do (AppSecrets.revision); None when a controller
    # outside Pulumi writes them (the server re-reads the rotated files).
    secret_revision: pulumi.Input[str] | None
    # Namespaces public traffic comes from (ingress controller or Gateway data plane), unless
    # networkPolicy.ingressSources replaces them; and the Prometheus namespace.
    public_source_namespaces: Sequence[pulumi.Input[str]]
    monitoring_namespace: pulumi.Input[str]
    pull_secret_name: pulumi.Input[str] | None = None
    # Egress to the shared limits store, when there is one.
    store_egress: k8s.networking.v1.NetworkPolicyEgressRuleArgs | None = None


class AgentServer(KubeComponent[AgentServerArgs]):
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    service_name: str
    deployment_name: str
    load_balancer: k8s.core.v1.Service | None

    TYPE = "agentsmcp:index:AgentServer"

    def _build(
        self, resource_name: str, args: AgentServerArgs, provider: k8s.Provider
    ) -> Mapping[str, Any]:
        config = args.config
        child = child_opts(self, provider)
        server_yaml = render_server_yaml(config)
        # A new resource per content (not a replacement): created before the Deployment moves to
        # it, the old one deleted after the rollout. A content-named object never changes.
        digest = config_hash(server_yaml)
        config_map = k8s.core.v1.ConfigMap(
            f"{resource_name}-config-{digest}",
            metadata=_meta(args, f"{CONFIG_MAP_PREFIX}-{digest}"),
            data={CONFIG_FILE_NAME: server_yaml},
            opts=child,
        )
        service_account = k8s.core.v1.ServiceAccount(
            f"{resource_name}-service-account",
            metadata=_meta(args, APP_NAME),
            automount_service_account_token=False,
            opts=child,
        )
        self.deployment_name = APP_NAME
        pod_spec = _pod_spec(args, service_account, config_map)
        self.deployment = _deployment(resource_name, args, pod_spec, child)
        self.service_name = SERVICE_NAME
        self.service = _cluster_service(resource_name, args, child)
        self.load_balancer = None
        if config.load_balancer.enabled:
            self.load_balancer = _load_balancer(resource_name, args, child)
        if config.pdb.enabled:
            _disruption_budget(resource_name, args, child)
        _network_policy(resource_name, args, child)
        return {"deployment": self.deployment_name, "service": self.service_name}


def _meta(args: AgentServerArgs, name: str) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=args.namespace, labels=args.labels)


def _match_server(args: AgentServerArgs) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(args.stack))


def _deployment(
    resource_name: str,
    args: AgentServerArgs,
    pod_spec: k8s.core.v1.PodSpecArgs,
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.Deployment:
    config = args.config
    return k8s.apps.v1.Deployment(
        f"{resource_name}-deployment",
        metadata=_meta(args, APP_NAME),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=None if config.autoscaling.enabled else config.replicas,
            revision_history_limit=5,
            selector=_match_server(args),
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                    max_surge="25%", max_unavailable=0
                ),
            ),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels=args.labels,
                    # The config's change is in its ConfigMap's name, the secrets' here.
                    annotations=None
                    if args.secret_revision is None
                    else {SECRET_REVISION_ANNOTATION: args.secret_revision},
                ),
                spec=pod_spec,
            ),
        ),
        opts=opts,
    )


def _cluster_service(
    resource_name: str, args: AgentServerArgs, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Service:
    return k8s.core.v1.Service(
        f"{resource_name}-service",
        metadata=_meta(args, SERVICE_NAME),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=selector_labels(args.stack),
            ports=[
                tcp_service_port(PORT_NAME, SERVICE_PORT),
                # For the ServiceMonitor and in-cluster scrapers; Ingress/HTTPRoute route only
                # SERVICE_PORT.
                tcp_service_port(METRICS_PORT_NAME, args.config.metrics_port),
            ],
        ),
        opts=opts,
    )


def _load_balancer(
    resource_name: str, args: AgentServerArgs, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Service:
    settings = args.config.load_balancer
    return k8s.core.v1.Service(
        f"{resource_name}-load-balancer",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=LOAD_BALANCER_NAME,
            namespace=args.namespace,
            labels=args.labels,
            annotations=dict(settings.annotations) or None,
        ),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="LoadBalancer",
            selector=selector_labels(args.stack),
            external_traffic_policy="Local",
            load_balancer_source_ranges=settings.source_ranges or None,
            ports=[tcp_service_port(PORT_NAME, SERVICE_PORT)],
        ),
        opts=opts,
    )


def _disruption_budget(
    resource_name: str, args: AgentServerArgs, opts: pulumi.ResourceOptions
) -> None:
    k8s.policy.v1.PodDisruptionBudget(
        f"{resource_name}-pdb",
        metadata=_meta(args, APP_NAME),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            min_available=args.config.pdb.min_available,
            selector=_match_server(args),
            unhealthy_pod_eviction_policy="AlwaysAllow",
        ),
        opts=opts,
    )


def _pod_spec(
    args: AgentServerArgs,
    service_account: k8s.core.v1.ServiceAccount,
    config_map: k8s.core.v1.ConfigMap,
) -> k8s.core.v1.PodSpecArgs:
    config = args.config
    return k8s.core.v1.PodSpecArgs(
        service_account_name=service_account.metadata.apply(lambda m: m.name or APP_NAME),
        automount_service_account_token=False,
        termination_grace_period_seconds=config.grace_seconds,
        enable_service_links=False,
        security_context=pod_security_context(RUN_AS_ID),
        topology_spread_constraints=_topology_spread(args) if config.topology_spread else None,
        containers=[_server_container(args)],
        volumes=_volumes(args, config_map),
        image_pull_secrets=None
        if args.pull_secret_name is None
        else [k8s.core.v1.LocalObjectReferenceArgs(name=args.pull_secret_name)],
    )


def _topology_spread(args: AgentServerArgs) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            topology_key=key,
            max_skew=1,
            when_unsatisfiable=when,
            label_selector=_match_server(args),
            match_label_keys=["pod-template-hash"],
        )
        for key, when in (
            ("kubernetes.io/hostname", "DoNotSchedule"),
            ("topology.kubernetes.io/zone", "ScheduleAnyway"),
        )
    ]


def _server_env(config: StackConfig) -> list[k8s.core.v1.EnvVarArgs]:
    return [
        k8s.core.v1.EnvVarArgs(
            name="AGENTSMCP_CONFIG", value=f"{CONFIG_MOUNT_DIR}/{CONFIG_FILE_NAME}"
        ),
        *(
            k8s.core.v1.EnvVarArgs(name=key, value=value)
            for key, value in sorted(config.server_env.items())
        ),
        k8s.core.v1.EnvVarArgs(name=SECRETS_DIR_ENV, value=SECRETS_MOUNT_DIR),
    ]


def _probe(
    config: StackConfig, path: str, period: int, failures: int
) -> k8s.core.v1.ProbeArgs | None:
    """An HTTP probe on the server port; none in debug mode, where no server runs."""
    if config.debug.enabled:
        return None
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=PORT_NAME),
        period_seconds=period,
        timeout_seconds=2,
        failure_threshold=failures,
    )


def _server_container(args: AgentServerArgs) -> k8s.core.v1.ContainerArgs:
    config = args.config
    return k8s.core.v1.ContainerArgs(
        name=CONTAINER_NAME,
        image=args.image_ref,
        image_pull_policy="IfNotPresent",
        command=DEBUG_COMMAND if config.debug.enabled else None,
        ports=[
            tcp_container_port(PORT_NAME, config.server_port),
            tcp_container_port(METRICS_PORT_NAME, config.metrics_port),
        ],
        env=_server_env(config),
        resources=resource_requirements(config.resources),
        startup_probe=_probe(config, STARTUP_PATH, 2, 30),
        readiness_probe=_probe(config, READINESS_PATH, 5, 3),
        liveness_probe=_probe(config, LIVENESS_PATH, 10, 3),
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=config.pre_stop_seconds)
            )
        )
        if config.pre_stop_seconds > 0
        else None,
        security_context=container_security_context(RUN_AS_ID),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_MOUNT_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(
                name="secrets", mount_path=SECRETS_MOUNT_DIR, read_only=True
            ),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108
        ],
    )


def _volumes(
    args: AgentServerArgs, config_map: k8s.core.v1.ConfigMap
) -> list[k8s.core.v1.VolumeArgs]:
    return [
        k8s.core.v1.VolumeArgs(
            name="config",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=config_map.metadata.apply(lambda m: m.name or CONFIG_MAP_PREFIX),
                items=[k8s.core.v1.KeyToPathArgs(key=CONFIG_FILE_NAME, path=CONFIG_FILE_NAME)],
            ),
        ),
        # Every key of the Secret as a file (no subPath, so updates reach the pod);
        # group-readable for fsGroup 1000, the server's group.
        k8s.core.v1.VolumeArgs(
            name="secrets",
            # optional spelled out: podman 4.3's kube play crashes without it.
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=args.secret_name, default_mode=0o440, optional=False
            ),
        ),
        k8s.core.v1.VolumeArgs(
            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")
        ),
    ]


def _network_policy(
    resource_name: str, args: AgentServerArgs, opts: pulumi.ResourceOptions
) -> None:
    config = args.config
    k8s.networking.v1.NetworkPolicy(
        f"{resource_name}-network-policy",
        metadata=_meta(args, APP_NAME),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_match_server(args),
            policy_types=["Ingress", "Egress"],
            ingress=_ingress_rules(args),
            egress=[
                *network.egress_rules(config.network_policy),
                *network.tool_server_rules(config),
                *network.tracing_rules(config),
                *([args.store_egress] if args.store_egress is not None else []),
            ],
        ),
        opts=opts,
    )


def _ingress_rules(args: AgentServerArgs) -> list[k8s.networking.v1.NetworkPolicyIngressRuleArgs]:
    """Public sources to the HTTP port (when there are any), the monitoring namespace to the
    metrics port."""
    config = args.config
    public = network.public_sources(config, args.public_source_namespaces)
    if config.load_balancer.enabled:
        # externalTrafficPolicy Local keeps the client address, so ipBlocks can match it.
        public += network.cidr_peers(config.load_balancer.source_ranges)
    monitoring = network.tcp_ingress(
        [network.namespace_peer(args.monitoring_namespace)], METRICS_PORT_NAME
    )
    if public:
        return [network.tcp_ingress(public, PORT_NAME), monitoring]
    return [monitoring]
