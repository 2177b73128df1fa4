"""Shared Kubernetes plumbing: the explicit provider, names and labels every component uses."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config import KubernetesSettings

APP_NAME = "agentsmcp"
CONTAINER_NAME = "agentsmcp"
CONFIG_MOUNT_DIR = "/etc/agentsmcp"
CONFIG_FILE_NAME = "config.yaml"
RUN_AS_ID = 1000


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


def child_opts(
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on))
