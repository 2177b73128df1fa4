"""The server workload: ConfigMap, ServiceAccount, Deployment, Services, PDB, NetworkPolicy."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

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
    child_opts,
    selector_labels,
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


class AgentServer(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    service_name: str
    deployment_name: str
    load_balancer: k8s.core.v1.Service | None

    def __init__(
        self,
        resource_name: str,
        args: AgentServerArgs,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("agentsmcp:index:AgentServer", resource_name, None, opts)
        config = args.config
        labels = args.labels
        selector = selector_labels(args.stack)
        child = child_opts(self, provider)

        def meta(name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=args.namespace, labels=labels)

        server_yaml = render_server_yaml(config)
        # A new resource per content (not a replacement): created before the Deployment moves to
        # it, the old one deleted after the rollout. A content-named object never changes.
        digest = config_hash(server_yaml)
        config_map = k8s.core.v1.ConfigMap(
            f"{resource_name}-config-{digest}",
            metadata=meta(f"{CONFIG_MAP_PREFIX}-{digest}"),
            data={CONFIG_FILE_NAME: server_yaml},
            opts=child,
        )
        service_account = k8s.core.v1.ServiceAccount(
            f"{resource_name}-service-account",
            metadata=meta(APP_NAME),
            automount_service_account_token=False,
            opts=child,
        )
        self.deployment_name = APP_NAME
        self.deployment = k8s.apps.v1.Deployment(
            f"{resource_name}-deployment",
            metadata=meta(APP_NAME),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=None if config.autoscaling.enabled else config.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge="25%", max_unavailable=0
                    ),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        # The config's change is in its ConfigMap's name, the secrets' here.
                        annotations=None
                        if args.secret_revision is None
                        else {SECRET_REVISION_ANNOTATION: args.secret_revision},
                    ),
                    spec=self._pod_spec(args, service_account, config_map),
                ),
            ),
            opts=child,
        )
        self.service_name = SERVICE_NAME
        self.service = k8s.core.v1.Service(
            f"{resource_name}-service",
            metadata=meta(SERVICE_NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=PORT_NAME, port=SERVICE_PORT, target_port=PORT_NAME, protocol="TCP"
                    ),
                    # For the ServiceMonitor and in-cluster scrapers; Ingress/HTTPRoute route
                    # only SERVICE_PORT.
                    k8s.core.v1.ServicePortArgs(
                        name=METRICS_PORT_NAME,
                        port=config.metrics_port,
                        target_port=METRICS_PORT_NAME,
                        protocol="TCP",
                    ),
                ],
            ),
            opts=child,
        )
        self.load_balancer = None
        if config.load_balancer.enabled:
            self.load_balancer = k8s.core.v1.Service(
                f"{resource_name}-load-balancer",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=LOAD_BALANCER_NAME,
                    namespace=args.namespace,
                    labels=labels,
                    annotations=dict(config.load_balancer.annotations) or None,
                ),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="LoadBalancer",
                    selector=selector,
                    external_traffic_policy="Local",
                    load_balancer_source_ranges=config.load_balancer.source_ranges or None,
                    ports=[
                        k8s.core.v1.ServicePortArgs(
                            name=PORT_NAME,
                            port=SERVICE_PORT,
                            target_port=PORT_NAME,
                            protocol="TCP",
                        )
                    ],
                ),
                opts=child,
            )
        if config.pdb.enabled:
            k8s.policy.v1.PodDisruptionBudget(
                f"{resource_name}-pdb",
                metadata=meta(APP_NAME),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    min_available=config.pdb.min_available,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                opts=child,
            )
        self._network_policy(resource_name, args, child)
        self.register_outputs({"deployment": self.deployment_name, "service": self.service_name})

    @staticmethod
    def _pod_spec(
        args: AgentServerArgs,
        service_account: k8s.core.v1.ServiceAccount,
        config_map: k8s.core.v1.ConfigMap,
    ) -> k8s.core.v1.PodSpecArgs:
        config = args.config
        debug = config.debug.enabled
        env = [
            k8s.core.v1.EnvVarArgs(
                name="AGENTSMCP_CONFIG", value=f"{CONFIG_MOUNT_DIR}/{CONFIG_FILE_NAME}"
            )
        ]
        env += [
            k8s.core.v1.EnvVarArgs(name=key, value=value)
            for key, value in sorted(config.server_env.items())
        ]
        env.append(k8s.core.v1.EnvVarArgs(name=SECRETS_DIR_ENV, value=SECRETS_MOUNT_DIR))

        def probe(path: str, period: int, failures: int) -> k8s.core.v1.ProbeArgs | None:
            if debug:
                return None
            return k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=PORT_NAME),
                period_seconds=period,
                timeout_seconds=2,
                failure_threshold=failures,
            )

        topology = None
        if config.topology_spread:
            topology = [
                k8s.core.v1.TopologySpreadConstraintArgs(
                    topology_key=key,
                    max_skew=1,
                    when_unsatisfiable=when,
                    label_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels=selector_labels(args.stack)
                    ),
                    match_label_keys=["pod-template-hash"],
                )
                for key, when in (
                    ("kubernetes.io/hostname", "DoNotSchedule"),
                    ("topology.kubernetes.io/zone", "ScheduleAnyway"),
                )
            ]
        resources = config.resources
        return k8s.core.v1.PodSpecArgs(
            service_account_name=service_account.metadata.apply(lambda m: m.name or APP_NAME),
            automount_service_account_token=False,
            termination_grace_period_seconds=config.grace_seconds,
            enable_service_links=False,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True,
                run_as_user=RUN_AS_ID,
                run_as_group=RUN_AS_ID,
                fs_group=RUN_AS_ID,
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            topology_spread_constraints=topology,
            containers=[
                k8s.core.v1.ContainerArgs(
                    name=CONTAINER_NAME,
                    image=args.image_ref,
                    image_pull_policy="IfNotPresent",
                    command=DEBUG_COMMAND if debug else None,
                    ports=[
                        k8s.core.v1.ContainerPortArgs(
                            name=PORT_NAME, container_port=config.server_port, protocol="TCP"
                        ),
                        k8s.core.v1.ContainerPortArgs(
                            name=METRICS_PORT_NAME,
                            container_port=config.metrics_port,
                            protocol="TCP",
                        ),
                    ],
                    env=env,
                    resources=k8s.core.v1.ResourceRequirementsArgs(
                        requests=resources.requests.quantities(),
                        limits=resources.limits.quantities(),
                    ),
                    startup_probe=probe(STARTUP_PATH, 2, 30),
                    readiness_probe=probe(READINESS_PATH, 5, 3),
                    liveness_probe=probe(LIVENESS_PATH, 10, 3),
                    lifecycle=k8s.core.v1.LifecycleArgs(
                        pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                            sleep=k8s.core.v1.SleepActionArgs(seconds=config.pre_stop_seconds)
                        )
                    )
                    if config.pre_stop_seconds > 0
                    else None,
                    security_context=k8s.core.v1.SecurityContextArgs(
                        run_as_non_root=True,
                        run_as_user=RUN_AS_ID,
                        run_as_group=RUN_AS_ID,
                        allow_privilege_escalation=False,
                        read_only_root_filesystem=True,
                        privileged=False,
                        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    volume_mounts=[
                        k8s.core.v1.VolumeMountArgs(
                            name="config", mount_path=CONFIG_MOUNT_DIR, read_only=True
                        ),
                        k8s.core.v1.VolumeMountArgs(
                            name="secrets", mount_path=SECRETS_MOUNT_DIR, read_only=True
                        ),
                        k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108
                    ],
                )
            ],
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="config",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                        name=config_map.metadata.apply(lambda m: m.name or CONFIG_MAP_PREFIX),
                        items=[
                            k8s.core.v1.KeyToPathArgs(key=CONFIG_FILE_NAME, path=CONFIG_FILE_NAME)
                        ],
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
            ],
            image_pull_secrets=None
            if args.pull_secret_name is None
            else [k8s.core.v1.LocalObjectReferenceArgs(name=args.pull_secret_name)],
        )

    @staticmethod
    def _network_policy(
        resource_name: str, args: AgentServerArgs, opts: pulumi.ResourceOptions
    ) -> None:
        config = args.config
        policy = config.network_policy
        public = network.public_sources(config, args.public_source_namespaces)
        if config.load_balancer.enabled:
            # externalTrafficPolicy Local keeps the client address, so ipBlocks can match it.
            public += network.cidr_peers(config.load_balancer.source_ranges)
        ingress = [
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[network.namespace_peer(args.monitoring_namespace)],
                ports=[
                    k8s.networking.v1.NetworkPolicyPortArgs(port=METRICS_PORT_NAME, protocol="TCP")
                ],
            )
        ]
        if public:
            ingress.insert(
                0,
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=public,
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=PORT_NAME, protocol="TCP")],
                ),
            )
        k8s.networking.v1.NetworkPolicy(
            f"{resource_name}-network-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=APP_NAME, namespace=args.namespace, labels=args.labels
            ),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels=selector_labels(args.stack)
                ),
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=[
                    *network.egress_rules(policy),
                    *network.tool_server_rules(config),
                    *([args.store_egress] if args.store_egress is not None else []),
                ],
            ),
            opts=opts,
        )
