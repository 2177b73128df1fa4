"""NetworkPolicy building blocks: who may reach the server's ports, and where pods may go.

The namespace starts from default-deny (components.namespace); the app's policy (in
components.workload) and the HTTP-01 solver's policy (components.exposure) admit exactly:

- public traffic (``networkPolicy.ingressSources``, else the ingress controller's or the Gateway
  data plane's namespace, plus ``loadBalancer.sourceRanges``) to the HTTP port only;
- the monitoring namespace to the metrics port only;
- egress to DNS (CoreDNS pods and NodeLocal DNSCache addresses), to public addresses on
  ``networkPolicy.upstreamPorts``, to each ``networkPolicy.extraEgress`` destination, and to
  the namespace and port of each in-cluster tool server (``serverConfig.tool_servers``; the
  others must be covered by the rules above, which the stack config checks), and to the
  OpenTelemetry collector (``tracing.endpoint``: its namespace, or ``tracing.egressCidrs``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config import NetworkPolicySettings, PeerSettings, PortSettings, StackConfig

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# cert-manager labels the pods that answer HTTP-01 challenges and serves them on this port.
ACME_SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089
DNS_PORT = 53

Peer = k8s.networking.v1.NetworkPolicyPeerArgs
Port = k8s.networking.v1.NetworkPolicyPortArgs


def namespace_peer(name: pulumi.Input[str]) -> Peer:
    return Peer(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={NAMESPACE_NAME_LABEL: name})
    )


def pod_peer(labels: dict[str, str]) -> Peer:
    """The pods of this namespace with ``labels``."""
    return Peer(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels))


def tcp_ingress(
    sources: Sequence[Peer], port: int | str
) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
    """From ``sources`` to one TCP port (a number, or a container port's name)."""
    return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
        from_=list(sources), ports=[Port(port=port, protocol="TCP")]
    )


def tcp_egress(
    destinations: Sequence[Peer], port: int
) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=list(destinations), ports=[Port(port=port, protocol="TCP")]
    )


def cidr_peers(cidrs: Sequence[str], except_cidrs: Sequence[str] = ()) -> list[Peer]:
    peers = []
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr)
        excluded = [
            str(other)
            for other in map(ipaddress.ip_network, except_cidrs)
            if other.version == network.version and other != network and other.subnet_of(network)  # type: ignore[arg-type]
        ]
        peers.append(
            Peer(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr, except_=excluded or None))
        )
    return peers


def peers(peer: PeerSettings) -> list[Peer]:
    """One NetworkPolicyPeer for a selector, one per CIDR for IP blocks."""
    if peer.cidrs:
        return cidr_peers(peer.cidrs, peer.except_cidrs)
    namespace_labels: dict[str, str] | None = None
    if peer.namespace is not None:
        namespace_labels = {NAMESPACE_NAME_LABEL: peer.namespace}
    elif peer.namespace_labels is not None:
        namespace_labels = dict(peer.namespace_labels)
    return [
        Peer(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=namespace_labels)
            if namespace_labels is not None
            else None,
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(peer.pod_labels))
            if peer.pod_labels is not None
            else None,
        )
    ]


def ports(settings: Sequence[PortSettings]) -> list[Port]:
    return [
        Port(port=port.port, end_port=port.end_port, protocol=port.protocol) for port in settings
    ]


def public_sources(config: StackConfig, derived: Sequence[pulumi.Input[str]]) -> list[Peer]:
    """Who sends public traffic: ``networkPolicy.ingressSources`` or the derived namespaces."""
    policy = config.network_policy
    if policy.ingress_sources is not None:
        return [p for source in policy.ingress_sources for p in peers(source)]
    return [namespace_peer(name) for name in derived]


def public_blocks(policy: NetworkPolicySettings) -> list[Peer]:
    """Every address except the private, shared and link-local ranges."""
    return [
        *cidr_peers(["0.0.0.0/0"], policy.private_cidrs),
        *cidr_peers(["::/0"], policy.private_cidrs),
    ]


def dns_rule(policy: NetworkPolicySettings) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    dns = policy.dns
    selector = Peer(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_labels={NAMESPACE_NAME_LABEL: dns.namespace}
        ),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(dns.pod_labels))
        if dns.pod_labels is not None
        else None,
    )
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[selector, *cidr_peers(dns.cidrs)],
        ports=[Port(port=DNS_PORT, protocol="UDP"), Port(port=DNS_PORT, protocol="TCP")],
    )


def egress_rules(
    policy: NetworkPolicySettings,
) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    rules = [
        dns_rule(policy),
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=public_blocks(policy), ports=ports(policy.upstream_ports)
        ),
    ]
    rules += [
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=peers(rule), ports=ports(rule.ports))
        for rule in policy.extra_egress
    ]
    return rules


def tool_server_rules(config: StackConfig) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """One rule per namespace holding in-cluster tool servers, on their URLs' ports. The peer is
    the whole namespace: a URL names a Service, whose pods' labels the stack does not know."""
    by_namespace: dict[str, set[int]] = {}
    for destination in config.tool_server_destinations:
        if destination.namespace is not None:
            by_namespace.setdefault(destination.namespace, set()).add(destination.port)
    return [
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[namespace_peer(namespace)],
            ports=[Port(port=port, protocol="TCP") for port in sorted(by_namespace[namespace])],
        )
        for namespace in sorted(by_namespace)
    ]


def tracing_rules(config: StackConfig) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """Egress to the OpenTelemetry collector on its port: its namespace (an in-cluster Service
    URL) or ``tracing.egressCidrs``; none without ``tracing.endpoint``."""
    destination = config.tracing_destination
    if destination is None:
        return []
    namespace, port = destination
    to = [namespace_peer(namespace)] if namespace is not None else []
    to += cidr_peers(config.tracing.egress_cidrs)
    return [tcp_egress(to, port)]
