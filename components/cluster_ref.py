"""What the app stack takes from the cluster stack (``cluster/``) through a StackReference.

With ``agentsmcp:cluster.stack`` set, every fact the app config leaves unset comes from that
stack's outputs (see ``CLUSTER_OUTPUTS``); without it, from the app config or the defaults below.
An explicit app setting always wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.config import StackConfig

# Output names the cluster program exports (cluster/__main__.py) and this module reads.
INGRESS_CLASS = "ingressClassName"
INGRESS_NAMESPACE = "ingressNamespace"
GATEWAY_NAME = "gatewayName"
GATEWAY_NAMESPACE = "gatewayNamespace"
GATEWAY_TRAFFIC_NAMESPACE = "gatewayTrafficNamespace"
MONITORING_NAMESPACE = "monitoringNamespace"
PROMETHEUS_RELEASE_LABEL = "prometheusReleaseLabel"
VPA_INSTALLED = "vpaInstalled"
KEDA_INSTALLED = "kedaInstalled"
EXTERNAL_SECRETS_INSTALLED = "externalSecretsInstalled"
CLUSTER_OUTPUTS = (
    INGRESS_CLASS,
    INGRESS_NAMESPACE,
    GATEWAY_NAME,
    GATEWAY_NAMESPACE,
    GATEWAY_TRAFFIC_NAMESPACE,
    MONITORING_NAMESPACE,
    PROMETHEUS_RELEASE_LABEL,
    VPA_INSTALLED,
    KEDA_INSTALLED,
    EXTERNAL_SECRETS_INSTALLED,
)
# The app settings that need a cluster add-on, as their errors name them.
KEDA_NEEDED_BY = "agentsmcp:autoscaling.scaler: keda needs KEDA (agentsmcp-cluster:keda)"
VPA_NEEDED_BY = "agentsmcp:vpa.enabled needs the VPA (agentsmcp-cluster:vpa)"
EXTERNAL_SECRETS_NEEDED_BY = (
    "agentsmcp:externalSecrets.enabled needs the External Secrets Operator"
    " (agentsmcp-cluster:externalSecrets)"
)
DEFAULT_INGRESS_CLASS = "nginx"
DEFAULT_INGRESS_NAMESPACE = "ingress-nginx"
DEFAULT_MONITORING_NAMESPACE = "monitoring"
DEFAULT_RELEASE_LABEL = "kube-prometheus-stack"


class ClusterStackError(pulumi.RunError):
    """The cluster stack lacks an output this app stack needs (printed as one line)."""


@dataclass(frozen=True)
class ClusterFacts:
    ingress_class_name: pulumi.Input[str]
    ingress_namespace: pulumi.Input[str]
    gateway_name: pulumi.Input[str] | None
    gateway_namespace: pulumi.Input[str] | None
    # Where the Gateway's proxies run (e.g. envoy-gateway-system), the source of public traffic.
    gateway_traffic_namespace: pulumi.Input[str] | None
    monitoring_namespace: pulumi.Input[str]
    release_label: pulumi.Input[str]
    # Whether KEDA, the VPA and ESO run in the cluster, for the resources that need them: True
    # without a cluster stack (the app config is trusted) or when nothing needs them; from the
    # cluster stack, an Output that fails with one line when a setting needs a missing one.
    keda_installed: pulumi.Input[bool] = True
    vpa_installed: pulumi.Input[bool] = True
    external_secrets_installed: pulumi.Input[bool] = True


def cluster_facts(config: StackConfig) -> ClusterFacts:
    stack = config.cluster.stack
    reference = pulumi.StackReference(stack) if stack is not None else None

    def from_stack(output: str) -> pulumi.Output[str]:
        assert reference is not None
        return reference.get_output(output).apply(lambda value: _required(stack, output, value))

    def fact(explicit: str | None, output: str, default: str) -> pulumi.Input[str]:
        if explicit is not None:
            return explicit
        return default if reference is None else from_stack(output)

    policy = config.network_policy
    gateway = config.exposure.gateway
    wants_gateway = config.exposure.mode == "gateway"
    if gateway is not None:
        name: pulumi.Input[str] | None = gateway.name
        namespace: pulumi.Input[str] | None = gateway.namespace
        traffic: pulumi.Input[str] | None = gateway.namespace
    elif wants_gateway and reference is not None:
        name = from_stack(GATEWAY_NAME)
        namespace = from_stack(GATEWAY_NAMESPACE)
        traffic = from_stack(GATEWAY_TRAFFIC_NAMESPACE)
    else:
        name = namespace = traffic = None
    if config.exposure.mode == "ingress":
        ingress_class: pulumi.Input[str] = fact(
            config.exposure.ingress_class_name, INGRESS_CLASS, DEFAULT_INGRESS_CLASS
        )
        ingress_namespace: pulumi.Input[str] = fact(
            policy.ingress_controller_namespace, INGRESS_NAMESPACE, DEFAULT_INGRESS_NAMESPACE
        )
    else:  # unused: nothing is routed through an ingress controller
        ingress_class = config.exposure.ingress_class_name or DEFAULT_INGRESS_CLASS
        ingress_namespace = policy.ingress_controller_namespace or DEFAULT_INGRESS_NAMESPACE
    monitoring_namespace = fact(
        policy.monitoring_namespace, MONITORING_NAMESPACE, DEFAULT_MONITORING_NAMESPACE
    )
    release_label = fact(
        config.monitoring.release_label, PROMETHEUS_RELEASE_LABEL, DEFAULT_RELEASE_LABEL
    )
    autoscaling = config.autoscaling
    keda_needed = autoscaling.enabled and autoscaling.scaler == "keda"
    return ClusterFacts(
        ingress_class_name=ingress_class,
        ingress_namespace=ingress_namespace,
        gateway_name=name,
        gateway_namespace=namespace,
        gateway_traffic_namespace=traffic,
        monitoring_namespace=monitoring_namespace,
        release_label=release_label,
        keda_installed=_addon(reference, stack, KEDA_INSTALLED, KEDA_NEEDED_BY, keda_needed),
        vpa_installed=_addon(reference, stack, VPA_INSTALLED, VPA_NEEDED_BY, config.vpa.enabled),
        external_secrets_installed=_addon(
            reference,
            stack,
            EXTERNAL_SECRETS_INSTALLED,
            EXTERNAL_SECRETS_NEEDED_BY,
            config.external_secrets.enabled,
        ),
    )


def once_installed(installed: pulumi.Input[bool], value: pulumi.Input[str]) -> pulumi.Output[str]:
    """``value``, once the add-on check ``installed`` (a :class:`ClusterFacts` field) has passed:
    the resource it is an input of is then never sent to a cluster without the add-on."""
    return pulumi.Output.all(installed, value).apply(lambda values: values[1])


def _addon(
    reference: pulumi.StackReference | None,
    stack: str | None,
    output: str,
    needed_by: str,
    needed: bool,
) -> pulumi.Input[bool]:
    if reference is None or not needed:
        return True
    return reference.get_output(output).apply(
        lambda installed: _installed(stack, output, needed_by, installed)
    )


def _installed(stack: str | None, output: str, needed_by: str, installed: Any) -> bool:
    if installed is not True:
        raise ClusterStackError(
            f"{needed_by}, but agentsmcp:cluster.stack: {stack} exports {output}={installed!r};"
            " install it there (docs/stack-config.md) or change this stack's setting"
        )
    return True


def _required(stack: str | None, output: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ClusterStackError(
            f"agentsmcp:cluster.stack: {stack} exports no {output!r}; set it up in the cluster "
            "stack (docs/stack-config.md) or set the matching key of this stack"
        )
    return value
