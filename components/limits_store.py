"""The shared limits store (``limitsStore.mode: valkey``): one Valkey in the namespace, reachable
only from the server's pods, password from a generated (or given) secret, no disk by default."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.config import LimitsStoreSettings, ValkeySettings
from components.kube import APP_NAME, child_opts
from components.secrets import secret_revision

VALKEY_NAME = f"{APP_NAME}-valkey"
VALKEY_PORT = 6379
VALKEY_PORT_NAME = "valkey"
# The user of the official image (valkey:valkey).
VALKEY_UID = 999
CONFIG_KEY = "valkey.conf"
CONFIG_DIR = "/etc/valkey"
DATA_DIR = "/data"


def valkey_labels(stack: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": VALKEY_NAME,
        "app.kubernetes.io/instance": stack,
        "app.kubernetes.io/component": "limits-store",
    }


def valkey_conf(password: str, settings: ValkeySettings) -> str:
    persistence = settings.persistence.enabled
    lines = [
        "bind * -::*",
        f"port {VALKEY_PORT}",
        f"requirepass {password}",
        f"dir {DATA_DIR}",
        # Every key the server writes has a TTL: under memory pressure drop the soonest to expire.
        f"maxmemory {settings.max_memory}",
        "maxmemory-policy volatile-ttl",
        'save ""',
        f"appendonly {'yes' if persistence else 'no'}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ValkeyStoreArgs:
    stack: str
    namespace: pulumi.Input[str]
    namespace_name: str
    labels: dict[str, str]
    server_selector: dict[str, str]
    settings: ValkeySettings
    password: pulumi.Output[str] | None


class ValkeyStore(pulumi.ComponentResource):
    url: pulumi.Output[str]
    password: pulumi.Output[str]
    selector: dict[str, str]

    def __init__(
        self,
        resource_name: str,
        args: ValkeyStoreArgs,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("agentsmcp:index:ValkeyStore", resource_name, None, opts)
        settings = args.settings
        child = child_opts(self, provider)
        selector = valkey_labels(args.stack)
        self.selector = selector
        labels = {**args.labels, **selector}

        def meta(name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=args.namespace, labels=labels)

        password = args.password
        if password is None:
            password = random.RandomPassword(
                f"{resource_name}-password",
                length=48,
                special=False,
                opts=pulumi.ResourceOptions(parent=self),
            ).result
        secret_password: pulumi.Output[str] = pulumi.Output.secret(password)
        self.password = secret_password
        self.url = pulumi.Output.from_input(
            f"redis://{VALKEY_NAME}.{args.namespace_name}.svc.cluster.local:{VALKEY_PORT}/0"
        )
        conf: pulumi.Output[str] = pulumi.Output.secret(
            self.password.apply(lambda value: valkey_conf(value, settings))
        )
        conf_revision = pulumi.Output.unsecret(
            pulumi.Output.all(self.password, conf).apply(
                lambda pair: secret_revision({CONFIG_KEY: pair[1]}, pair[0])
            )
        )
        config_secret = k8s.core.v1.Secret(
            f"{resource_name}-config",
            metadata=meta(VALKEY_NAME),
            type="Opaque",
            string_data={CONFIG_KEY: conf},
            opts=child,
        )
        k8s.core.v1.Service(
            f"{resource_name}-service",
            metadata=meta(VALKEY_NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=VALKEY_PORT_NAME,
                        port=VALKEY_PORT,
                        target_port=VALKEY_PORT_NAME,
                        protocol="TCP",
                    )
                ],
            ),
            opts=child,
        )
        persistence = settings.persistence
        claims = None
        data_volume = [
            k8s.core.v1.VolumeArgs(
                name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")
            )
        ]
        if persistence.enabled:
            data_volume = []
            claims = [
                k8s.core.v1.PersistentVolumeClaimArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
                    spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"],
                        storage_class_name=persistence.storage_class_name,
                        resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                            requests={"storage": persistence.size}
                        ),
                    ),
                )
            ]
        probe = k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=VALKEY_PORT_NAME),
            period_seconds=5,
            timeout_seconds=2,
            failure_threshold=3,
        )
        resources = settings.resources
        k8s.apps.v1.StatefulSet(
            f"{resource_name}-statefulset",
            metadata=meta(VALKEY_NAME),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                replicas=1,
                service_name=VALKEY_NAME,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                volume_claim_templates=claims,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    # Valkey reads its config only at start: a changed one (updated in place)
                    # restarts it, and a new password reaches it with the server's.
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels, annotations={"checksum/config": conf_revision}
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        termination_grace_period_seconds=10,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=VALKEY_UID,
                            run_as_group=VALKEY_UID,
                            fs_group=VALKEY_UID,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="valkey",
                                image=settings.image,
                                image_pull_policy="IfNotPresent"
                                if "@sha256:" in settings.image
                                else "Always",
                                command=["valkey-server", f"{CONFIG_DIR}/{CONFIG_KEY}"],
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(
                                        name=VALKEY_PORT_NAME,
                                        container_port=VALKEY_PORT,
                                        protocol="TCP",
                                    )
                                ],
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests=resources.requests.quantities(),
                                    limits=resources.limits.quantities(),
                                ),
                                readiness_probe=probe,
                                liveness_probe=probe,
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    run_as_non_root=True,
                                    run_as_user=VALKEY_UID,
                                    run_as_group=VALKEY_UID,
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    privileged=False,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                    seccomp_profile=k8s.core.v1.SeccompProfileArgs(
                                        type="RuntimeDefault"
                                    ),
                                ),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(
                                        name="config", mount_path=CONFIG_DIR, read_only=True
                                    ),
                                    k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIR),
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=config_secret.metadata.apply(
                                        lambda m: m.name or VALKEY_NAME
                                    ),
                                    default_mode=0o440,
                                ),
                            ),
                            *data_volume,
                        ],
                    ),
                ),
            ),
            opts=child,
        )
        # One replica: a PDB that forbade its eviction would block every node drain. The
        # server's failure policy covers the seconds the store is away.
        k8s.policy.v1.PodDisruptionBudget(
            f"{resource_name}-pdb",
            metadata=meta(VALKEY_NAME),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{resource_name}-network-policy",
            metadata=meta(VALKEY_NAME),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels=args.server_selector
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(
                                port=VALKEY_PORT_NAME, protocol="TCP"
                            )
                        ],
                    )
                ],
                # Valkey never connects anywhere.
                egress=[],
            ),
            opts=child,
        )
        self.register_outputs({"url": self.url})


def store_egress(
    settings: LimitsStoreSettings, valkey_selector: dict[str, str] | None
) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs | None:
    """The server's egress rule to the store: our Valkey's pods, or the external store's
    networks; None without a store."""
    if settings.mode == "valkey" and valkey_selector is not None:
        return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=valkey_selector)
                )
            ],
            ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=VALKEY_PORT, protocol="TCP")],
        )
    if settings.mode == "external":
        external = settings.external
        return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
                )
                for cidr in external.egress_cidrs
            ],
            ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=external.port, protocol="TCP")],
        )
    return None
