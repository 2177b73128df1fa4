"""The cluster's public Gateway (Gateway API, Envoy Gateway): an HTTP listener that redirects to
one HTTPS listener per TLS host, with certificates from cert-manager's gateway-shim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_config import GatewayClusterSettings
from components.exposure import CLUSTER_ISSUER_ANNOTATION, HTTP_LISTENER_NAME, https_listener_name
from components.kube import child_opts
from components.namespace import pod_security_labels

GATEWAY_CLASS = "envoy"
ENVOY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
GATEWAY_API = "gateway.networking.k8s.io/v1"


def certificate_secret(host: str) -> str:
    return host.replace(".", "-") + "-tls"


def _http_listener(settings: GatewayClusterSettings) -> dict[str, Any]:
    """A parentRef to the Gateway's HTTP listener."""
    return {
        "name": settings.name,
        "namespace": settings.namespace,
        "sectionName": HTTP_LISTENER_NAME,
    }


def http01_solver(settings: GatewayClusterSettings) -> dict[str, Any]:
    """cert-manager's HTTP-01 solver answering through the Gateway's HTTP listener."""
    parent = {**_http_listener(settings), "kind": "Gateway"}
    return {"gatewayHTTPRoute": {"parentRefs": [parent]}}


def listeners(settings: GatewayClusterSettings) -> list[dict[str, Any]]:
    """The HTTP listener, and one HTTPS listener per TLS host; routes from any namespace."""
    all_namespaces = {"namespaces": {"from": "All"}}
    http = {
        "name": HTTP_LISTENER_NAME,
        "protocol": "HTTP",
        "port": 80,
        "allowedRoutes": all_namespaces,
    }
    https = [
        {
            "name": https_listener_name(host),
            "hostname": host,
            "protocol": "HTTPS",
            "port": 443,
            "tls": {"mode": "Terminate", "certificateRefs": [{"name": certificate_secret(host)}]},
            "allowedRoutes": all_namespaces,
        }
        for host in settings.tls_hosts
    ]
    return [http, *https]


class PublicGateway(pulumi.ComponentResource):
    def __init__(
        self,
        resource_name: str,
        settings: GatewayClusterSettings,
        provider: k8s.Provider,
        depends_on: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("agentsmcp:index:PublicGateway", resource_name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{resource_name}-namespace",
            # Only Gateway and HTTPRoute objects live here (Envoy's pods run in its own namespace).
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=settings.namespace, labels=pod_security_labels()
            ),
            opts=child_opts(self, provider),
        )
        gateway_class = k8s.apiextensions.CustomResource(
            f"{resource_name}-class",
            api_version=GATEWAY_API,
            kind="GatewayClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GATEWAY_CLASS),
            spec={"controllerName": ENVOY_CONTROLLER},
            opts=child_opts(self, provider, depends_on),
        )
        annotations = (
            {CLUSTER_ISSUER_ANNOTATION: settings.cluster_issuer}
            if settings.cluster_issuer is not None and settings.tls_hosts
            else None
        )
        gateway = k8s.apiextensions.CustomResource(
            f"{resource_name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=settings.name, namespace=settings.namespace, annotations=annotations
            ),
            spec={"gatewayClassName": GATEWAY_CLASS, "listeners": listeners(settings)},
            opts=child_opts(self, provider, [*depends_on, namespace, gateway_class]),
        )
        for host in settings.tls_hosts:
            _https_redirect(resource_name, settings, host, child_opts(self, provider, [gateway]))
        self.http01_solver = http01_solver(settings)
        self.register_outputs({"gateway": settings.name})


def _https_redirect(
    resource_name: str, settings: GatewayClusterSettings, host: str, opts: pulumi.ResourceOptions
) -> None:
    """``host``'s plain HTTP requests redirected to HTTPS. cert-manager's solver route matches
    its exact challenge path, which wins over this."""
    k8s.apiextensions.CustomResource(
        f"{resource_name}-redirect-{host}",
        api_version=GATEWAY_API,
        kind="HTTPRoute",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"https-redirect-{certificate_secret(host).removesuffix('-tls')}",
            namespace=settings.namespace,
        ),
        spec={
            "parentRefs": [_http_listener(settings)],
            "hostnames": [host],
            "rules": [
                {
                    "filters": [
                        {
                            "type": "RequestRedirect",
                            "requestRedirect": {"scheme": "https", "statusCode": 301},
                        }
                    ]
                }
            ],
        },
        opts=opts,
    )
