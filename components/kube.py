"""Shared Kubernetes plumbing: the explicit provider, names and labels every component uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from components.config import KubernetesSettings, ResourceSettings

APP_NAME = "agentsmcp"
CONTAINER_NAME = "agentsmcp"
CONFIG_MOUNT_DIR = "/etc/agentsmcp"
CONFIG_FILE_NAME = "config.yaml"
RUN_AS_ID = 1000

ArgsT = TypeVar("ArgsT")


def selector_labels(stack: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": stack}


def common_labels(stack: str, version: str) -> dict[str, str]:
    return {
        **selector_labels(stack),
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/part-of": APP_NAME,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def cluster_provider(stack: str, settings: KubernetesSettings) -> k8s.Provider:
    """The one provider every Kubernetes resource uses: ambient kubeconfig unless configured.

    ConfigMaps and Secrets are updated in place when their data changes: the provider's default
    replaces them, which under a fixed name means deleting first (what mounts them is left
    without it). Whatever must roll with a change says so itself (content-named ConfigMap,
    secret revision annotation)."""
    return k8s.Provider(
        f"{APP_NAME}-{stack}-k8s",
        kubeconfig=settings.kubeconfig,
        context=settings.context,
        enable_server_side_apply=True,
        enable_config_map_mutable=True,
        enable_secret_mutable=True,
    )


class KubeComponent(pulumi.ComponentResource, Generic[ArgsT]):
    """A component of the app stack, built from its ``args``; its Kubernetes objects are its
    children, on ``provider``. A subclass names its Pulumi type in ``TYPE`` (part of every
    child's URN: changing it replaces them all) and creates its children in ``_build``."""

    TYPE: ClassVar[str]

    def __init__(
        self,
        resource_name: str,
        args: ArgsT,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(self.TYPE, resource_name, None, opts)
        self.register_outputs(self._build(resource_name, args, provider))

    def _build(self, resource_name: str, args: ArgsT, provider: k8s.Provider) -> Mapping[str, Any]:
        """Create the children; return the outputs to register."""
        raise NotImplementedError


def child_opts(
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on))


def _restricted_identity(uid: int) -> dict[str, Any]:
    """What Pod Security ``restricted`` asks of pods and containers alike: a non-root user and
    group ``uid``, and the runtime's default seccomp profile."""
    return {
        "run_as_non_root": True,
        "run_as_user": uid,
        "run_as_group": uid,
        "seccomp_profile": k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    }


def pod_security_context(uid: int) -> k8s.core.v1.PodSecurityContextArgs:
    """Pod Security ``restricted``; group ``uid`` also owns the volumes."""
    return k8s.core.v1.PodSecurityContextArgs(**_restricted_identity(uid), fs_group=uid)


def container_security_context(uid: int) -> k8s.core.v1.SecurityContextArgs:
    """Pod Security ``restricted`` for one container: no privileges, read-only root filesystem."""
    return k8s.core.v1.SecurityContextArgs(
        **_restricted_identity(uid),
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        privileged=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


def resource_requirements(resources: ResourceSettings) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(
        requests=resources.requests.quantities(), limits=resources.limits.quantities()
    )


def tcp_service_port(name: str, port: int) -> k8s.core.v1.ServicePortArgs:
    """A Service port that forwards to the container port of the same name."""
    return k8s.core.v1.ServicePortArgs(name=name, port=port, target_port=name, protocol="TCP")


def tcp_container_port(name: str, port: int) -> k8s.core.v1.ContainerPortArgs:
    return k8s.core.v1.ContainerPortArgs(name=name, container_port=port, protocol="TCP")
