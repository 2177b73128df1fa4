"""The shared limits store (``limitsStore.mode: valkey``): one Valkey in the namespace, reachable
only from the server's pods, password from a generated (or given) secret, no disk by default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import network
from components.config import LimitsStoreSettings, PersistenceSettings, ValkeySettings
from components.kube import (
    APP_NAME,
    KubeComponent,
    child_opts,
    container_security_context,
    pod_security_context,
    resource_requirements,
    tcp_container_port,
    tcp_service_port,
)
from components.secrets import generated_password, secret_revision

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


class ValkeyStore(KubeComponent[ValkeyStoreArgs]):
    url: pulumi.Output[str]
    password: pulumi.Output[str]
    selector: dict[str, str]

    TYPE = "agentsmcp:index:ValkeyStore"

    def _build(
        self, resource_name: str, args: ValkeyStoreArgs, provider: k8s.Provider
    ) -> Mapping[str, Any]:
        child = child_opts(self, provider)
        self.selector = valkey_labels(args.stack)
        password = args.password
        if password is None:
            password = generated_password(f"{resource_name}-password", 48, self)
        secret_password: pulumi.Output[str] = pulumi.Output.secret(password)
        self.password = secret_password
        self.url = pulumi.Output.from_input(
            f"redis://{VALKEY_NAME}.{args.namespace_name}.svc.cluster.local:{VALKEY_PORT}/0"
        )
        config_secret, conf_revision = _config_secret(resource_name, args, self.password, child)
        k8s.core.v1.Service(
            f"{resource_name}-service",
            metadata=_meta(args),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=self.selector,
                ports=[tcp_service_port(VALKEY_PORT_NAME, VALKEY_PORT)],
            ),
            opts=child,
        )
        _stateful_set(resource_name, args, config_secret, conf_revision, child)
        # One replica: a PDB that forbade its eviction would block every node drain. The
        # server's failure policy covers the seconds the store is away.
        k8s.policy.v1.PodDisruptionBudget(
            f"{resource_name}-pdb",
            metadata=_meta(args),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=_match_valkey(args)
            ),
            opts=child,
        )
        _network_policy(resource_name, args, child)
        return {"url": self.url}


def _meta(args: ValkeyStoreArgs) -> k8s.meta.v1.ObjectMetaArgs:
    labels = {**args.labels, **valkey_labels(args.stack)}
    return k8s.meta.v1.ObjectMetaArgs(name=VALKEY_NAME, namespace=args.namespace, labels=labels)


def _match_valkey(args: ValkeyStoreArgs) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(match_labels=valkey_labels(args.stack))


def _config_secret(
    resource_name: str,
    args: ValkeyStoreArgs,
    password: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
) -> tuple[k8s.core.v1.Secret, pulumi.Output[str]]:
    """``valkey.conf``, a secret since it holds the password; and its revision (a keyed hash,
    plain): Valkey reads its config only at start, so the pod template carries it and a changed
    config (the Secret updated in place) restarts Valkey, a new password with the server's."""
    settings = args.settings
    conf: pulumi.Output[str] = pulumi.Output.secret(
        password.apply(lambda value: valkey_conf(value, settings))
    )
    revision = pulumi.Output.unsecret(
        pulumi.Output.all(password, conf).apply(
            lambda pair: secret_revision({CONFIG_KEY: pair[1]}, pair[0])
        )
    )
    secret = k8s.core.v1.Secret(
        f"{resource_name}-config",
        metadata=_meta(args),
        type="Opaque",
        string_data={CONFIG_KEY: conf},
        opts=opts,
    )
    return secret, revision


def _stateful_set(
    resource_name: str,
    args: ValkeyStoreArgs,
    config_secret: k8s.core.v1.Secret,
    conf_revision: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
) -> None:
    persistence = args.settings.persistence
    k8s.apps.v1.StatefulSet(
        f"{resource_name}-statefulset",
        metadata=_meta(args),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            replicas=1,
            service_name=VALKEY_NAME,
            selector=_match_valkey(args),
            volume_claim_templates=_data_claims(persistence) if persistence.enabled else None,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels={**args.labels, **valkey_labels(args.stack)},
                    annotations={"checksum/config": conf_revision},
                ),
                spec=k8s.core.v1.PodSpecArgs(
                    automount_service_account_token=False,
                    enable_service_links=False,
                    termination_grace_period_seconds=10,
                    security_context=pod_security_context(VALKEY_UID),
                    containers=[_valkey_container(args.settings)],
                    volumes=_volumes(persistence, config_secret),
                ),
            ),
        ),
        opts=opts,
    )


def _data_claims(
    persistence: PersistenceSettings,
) -> list[k8s.core.v1.PersistentVolumeClaimArgs]:
    return [
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


def _volumes(
    persistence: PersistenceSettings, config_secret: k8s.core.v1.Secret
) -> list[k8s.core.v1.VolumeArgs]:
    """The config Secret, and the data directory in memory unless a claim holds it."""
    config = k8s.core.v1.VolumeArgs(
        name="config",
        secret=k8s.core.v1.SecretVolumeSourceArgs(
            secret_name=config_secret.metadata.apply(lambda m: m.name or VALKEY_NAME),
            default_mode=0o440,
        ),
    )
    if persistence.enabled:
        return [config]
    data = k8s.core.v1.VolumeArgs(
        name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")
    )
    return [config, data]


def _valkey_container(settings: ValkeySettings) -> k8s.core.v1.ContainerArgs:
    probe = k8s.core.v1.ProbeArgs(
        tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=VALKEY_PORT_NAME),
        period_seconds=5,
        timeout_seconds=2,
        failure_threshold=3,
    )
    return k8s.core.v1.ContainerArgs(
        name="valkey",
        image=settings.image,
        image_pull_policy="IfNotPresent" if "@sha256:" in settings.image else "Always",
        command=["valkey-server", f"{CONFIG_DIR}/{CONFIG_KEY}"],
        ports=[tcp_container_port(VALKEY_PORT_NAME, VALKEY_PORT)],
        resources=resource_requirements(settings.resources),
        readiness_probe=probe,
        liveness_probe=probe,
        security_context=container_security_context(VALKEY_UID),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIR),
        ],
    )


def _network_policy(
    resource_name: str, args: ValkeyStoreArgs, opts: pulumi.ResourceOptions
) -> None:
    """Only the server's pods reach Valkey; Valkey never connects anywhere."""
    k8s.networking.v1.NetworkPolicy(
        f"{resource_name}-network-policy",
        metadata=_meta(args),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=_match_valkey(args),
            policy_types=["Ingress", "Egress"],
            ingress=[
                network.tcp_ingress([network.pod_peer(args.server_selector)], VALKEY_PORT_NAME)
            ],
            egress=[],
        ),
        opts=opts,
    )


def store_egress(
    settings: LimitsStoreSettings, valkey_selector: dict[str, str] | None
) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs | None:
    """The server's egress rule to the store: our Valkey's pods, or the external store's
    networks; None without a store."""
    if settings.mode == "valkey" and valkey_selector is not None:
        return network.tcp_egress([network.pod_peer(valkey_selector)], VALKEY_PORT)
    if settings.mode == "external":
        external = settings.external
        return network.tcp_egress(network.cidr_peers(external.egress_cidrs), external.port)
    return None
