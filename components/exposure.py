"""Public exposure: an Ingress (cert-manager TLS) or a Gateway API HTTPRoute on a named Gateway.

Only the API (``/v1`` and below), ``/health``, the MCP endpoint (``/mcp``, exactly: never
redirected to ``/mcp/``) and its OAuth protected-resource metadata (RFC 9728), and A2A (``/a2a``
and below, the agent cards at ``/.well-known/agent-card.json`` and ``agent.json``) are routed;
``/openapi.json`` only with ``exposure.publishOpenapi``. ``/metrics`` is on its own port, which
nothing routes, and the kubelet probes (``/health/live``, ``/health/ready``) reach the pods
directly. ``/mcp`` answers with SSE streams that run for up to an agent's timeout, so it is never
buffered and its timeouts are derived from the agents' (ingress-nginx sets buffering and timeouts
per Ingress object, hence a second Ingress for ``/mcp``). A2A's streams (``SendStreamingMessage``,
``SubscribeToTask``) and blocking ``SendMessage`` are the same, so ``/a2a`` has a third Ingress
with the same settings (the cards ride along with it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import network
from components.config import StackConfig
from components.kube import APP_NAME, KubeComponent, child_opts

CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
ACME_SOLVER_POLICY_NAME = "acme-http01-solver"
API_PREFIX = "/v1"
HEALTH_PATH = "/health"
OPENAPI_PATH = "/openapi.json"
MCP_PATH = "/mcp"
# RFC 9728 metadata: at the root, and for the MCP path (the resource's path appended).
OAUTH_METADATA_PATH = "/.well-known/oauth-protected-resource"
OAUTH_METADATA_PATHS = (OAUTH_METADATA_PATH, OAUTH_METADATA_PATH + MCP_PATH)
MCP_INGRESS_SUFFIX = "-mcp"
A2A_PREFIX = "/a2a"
A2A_CARD_PATHS = ("/.well-known/agent-card.json", "/.well-known/agent.json")
A2A_INGRESS_SUFFIX = "-a2a"
NGINX = "nginx.ingress.kubernetes.io/"


def public_paths(publish_openapi: bool) -> list[tuple[str, str]]:
    """(path, match) pairs routed from outside besides ``/mcp``; match is ``Prefix`` or
    ``Exact``."""
    paths = [(API_PREFIX, "Prefix"), (HEALTH_PATH, "Exact")]
    paths += [(path, "Exact") for path in OAUTH_METADATA_PATHS]
    if publish_openapi:
        paths.append((OPENAPI_PATH, "Exact"))
    return paths


def a2a_paths() -> list[tuple[str, str]]:
    """(path, match) pairs of A2A: the agents' endpoints and cards, and the server's cards."""
    return [(A2A_PREFIX, "Prefix"), *((path, "Exact") for path in A2A_CARD_PATHS)]


def mcp_ingress_annotations(config: StackConfig) -> dict[str, str]:
    """ingress-nginx on the ``/mcp`` (and ``/a2a``) Ingress: SSE events pass at once, and
    neither a long JSON answer nor a stream is cut before the agents' timeouts (its defaults:
    buffered, 60 s). A longer timeout in ``exposure.annotations`` is kept."""
    derived = {f"{NGINX}proxy-buffering": "off"}
    for key in (f"{NGINX}proxy-read-timeout", f"{NGINX}proxy-send-timeout"):
        given = config.exposure.annotations.get(key, "")
        seconds = route_timeout_seconds(config)
        derived[key] = str(max(seconds, int(given)) if given.isdigit() else seconds)
    return derived


def https_listener_name(host: str) -> str:
    """The cluster stack's Gateway listener for ``host`` (a valid Gateway API SectionName)."""
    return f"https-{host}"


HTTP_LISTENER_NAME = "http"
# Time a response needs after the agents' own timeouts (the server's error answer, slow clients).
ROUTE_TIMEOUT_MARGIN_SECONDS = 10


def route_timeout_seconds(config: StackConfig) -> int:
    """The HTTPRoute's request timeout: the longest agent request plus a margin."""
    return config.longest_agent_request_seconds + ROUTE_TIMEOUT_MARGIN_SECONDS


@dataclass(frozen=True)
class ExposureArgs:
    config: StackConfig
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    service_name: str
    service_port: int
    ingress_class_name: pulumi.Input[str]
    gateway_name: pulumi.Input[str] | None
    gateway_namespace: pulumi.Input[str] | None
    # Namespaces public traffic comes from; the HTTP-01 solver pods admit the same sources.
    public_source_namespaces: Sequence[pulumi.Input[str]]
    depends_on: Sequence[pulumi.Resource] = ()


class Exposure(KubeComponent[ExposureArgs]):
    public_url: str | None

    TYPE = "agentsmcp:index:Exposure"

    def _build(
        self, resource_name: str, args: ExposureArgs, provider: k8s.Provider
    ) -> Mapping[str, Any]:
        settings = args.config.exposure
        child = child_opts(self, provider, args.depends_on)
        scheme = "https" if settings.tls.enabled else "http"
        self.public_url = f"{scheme}://{settings.host}" if settings.mode != "none" else None
        if settings.mode == "ingress":
            if settings.tls.enabled:
                _acme_solver_policy(resource_name, args, child)
            _ingresses(resource_name, args, child)
        elif settings.mode == "gateway":
            _http_route(resource_name, args, child)
        return {"publicUrl": self.public_url}


def _ingresses(resource_name: str, args: ExposureArgs, opts: pulumi.ResourceOptions) -> None:
    """The main Ingress (its TLS certificate from cert-manager), the ``/mcp`` and ``/a2a``
    Ingresses."""
    settings = args.config.exposure
    assert settings.host is not None  # guaranteed by config validation
    annotations = dict(settings.annotations)
    tls = None
    if settings.tls.enabled:
        assert settings.tls.cluster_issuer is not None
        assert settings.tls.secret_name is not None
        annotations[CLUSTER_ISSUER_ANNOTATION] = settings.tls.cluster_issuer
        tls = [
            k8s.networking.v1.IngressTLSArgs(
                hosts=[settings.host], secret_name=settings.tls.secret_name
            )
        ]
    _ingress(
        f"{resource_name}-ingress",
        "",
        args,
        annotations,
        tls,
        public_paths(settings.publish_openapi),
        opts,
    )
    # Same host and TLS; the certificate is the main Ingress's (one cert-manager owner).
    mcp_annotations = {
        key: value
        for key, value in settings.annotations.items()
        if key != CLUSTER_ISSUER_ANNOTATION
    }
    _ingress(
        f"{resource_name}-mcp-ingress",
        MCP_INGRESS_SUFFIX,
        args,
        {**mcp_annotations, **mcp_ingress_annotations(args.config)},
        tls,
        [(MCP_PATH, "Exact")],
        opts,
    )
    _ingress(
        f"{resource_name}-a2a-ingress",
        A2A_INGRESS_SUFFIX,
        args,
        {**mcp_annotations, **mcp_ingress_annotations(args.config)},
        tls,
        a2a_paths(),
        opts,
    )


def _ingress(
    resource_name: str,
    suffix: str,
    args: ExposureArgs,
    annotations: dict[str, str],
    tls: list[k8s.networking.v1.IngressTLSArgs] | None,
    routes: list[tuple[str, str]],
    opts: pulumi.ResourceOptions,
) -> None:
    host = args.config.exposure.host
    assert host is not None  # guaranteed by config validation
    backend = k8s.networking.v1.IngressBackendArgs(
        service=k8s.networking.v1.IngressServiceBackendArgs(
            name=args.service_name,
            port=k8s.networking.v1.ServiceBackendPortArgs(number=args.service_port),
        )
    )
    k8s.networking.v1.Ingress(
        resource_name,
        metadata=_meta(args, APP_NAME + suffix, annotations),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name=args.ingress_class_name,
            tls=tls,
            rules=[
                k8s.networking.v1.IngressRuleArgs(
                    host=host,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                        paths=[
                            k8s.networking.v1.HTTPIngressPathArgs(
                                path=path, path_type=match, backend=backend
                            )
                            for path, match in routes
                        ]
                    ),
                )
            ],
        ),
        opts=opts,
    )


def _meta(
    args: ExposureArgs, name: str, annotations: Mapping[str, str] | None = None
) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=args.namespace,
        labels=args.labels,
        annotations=dict(annotations or {}) or None,
    )


def _gateway_parent(args: ExposureArgs) -> dict[str, object]:
    """The HTTPRoute's parentRef: the configured Gateway, or the cluster stack's listener."""
    settings = args.config.exposure
    assert settings.host is not None
    assert args.gateway_name is not None
    assert args.gateway_namespace is not None
    gateway = settings.gateway
    section = gateway.section_name if gateway is not None else None
    if section is None and gateway is None:
        # The cluster stack's Gateway: one HTTPS listener per host, HTTP redirects.
        secure = settings.tls.enabled
        section = https_listener_name(settings.host) if secure else HTTP_LISTENER_NAME
    parent_ref: dict[str, object] = {"name": args.gateway_name, "namespace": args.gateway_namespace}
    if section is not None:
        parent_ref["sectionName"] = section
    return parent_ref


def _http_route(resource_name: str, args: ExposureArgs, opts: pulumi.ResourceOptions) -> None:
    settings = args.config.exposure
    backend_refs = [{"name": args.service_name, "port": args.service_port}]
    # Gateways cut requests at a default (Envoy's is 15 s); an agent's answer or stream (on /v1
    # or /mcp) may run for its whole timeout and fallbacks.
    timeouts = {"request": f"{route_timeout_seconds(args.config)}s"}
    public = [
        {"path": {"type": "PathPrefix" if match == "Prefix" else "Exact", "value": path}}
        for path, match in public_paths(settings.publish_openapi)
    ]
    k8s.apiextensions.CustomResource(
        f"{resource_name}-http-route",
        api_version="gateway.networking.k8s.io/v1",
        kind="HTTPRoute",
        metadata=_meta(args, APP_NAME, settings.annotations),
        spec={
            "parentRefs": [_gateway_parent(args)],
            "hostnames": [settings.host],
            "rules": [
                {"matches": public, "backendRefs": backend_refs, "timeouts": timeouts},
                # The MCP endpoint exactly (no redirect to /mcp/); Envoy streams responses
                # unbuffered.
                {
                    "matches": [{"path": {"type": "Exact", "value": MCP_PATH}}],
                    "backendRefs": backend_refs,
                    "timeouts": timeouts,
                },
                # A2A: its endpoints stream like /mcp; the cards are plain GETs.
                {
                    "matches": [
                        {
                            "path": {
                                "type": "PathPrefix" if match == "Prefix" else "Exact",
                                "value": path,
                            }
                        }
                        for path, match in a2a_paths()
                    ],
                    "backendRefs": backend_refs,
                    "timeouts": timeouts,
                },
            ],
        },
        opts=opts,
    )


def _acme_solver_policy(
    resource_name: str, args: ExposureArgs, opts: pulumi.ResourceOptions
) -> None:
    """cert-manager's HTTP-01 solver pods run in this namespace, under its default-deny."""
    k8s.networking.v1.NetworkPolicy(
        f"{resource_name}-acme-solver-policy",
        metadata=_meta(args, ACME_SOLVER_POLICY_NAME),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels=dict(network.ACME_SOLVER_LABELS)
            ),
            policy_types=["Ingress"],
            ingress=[
                network.tcp_ingress(
                    network.public_sources(args.config, args.public_source_namespaces),
                    network.ACME_SOLVER_PORT,
                )
            ],
        ),
        opts=opts,
    )
