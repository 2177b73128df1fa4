"""Public exposure: an Ingress (cert-manager TLS) or a Gateway API HTTPRoute on a named Gateway."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import ExposureSettings
from components.kube import APP_NAME, child_opts

CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"


@dataclass(frozen=True)
class ExposureArgs:
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    settings: ExposureSettings
    service_name: str
    service_port: int
    depends_on: Sequence[pulumi.Resource] = ()


class Exposure(pulumi.ComponentResource):
    public_url: str | None

    def __init__(
        self,
        resource_name: str,
        args: ExposureArgs,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("agentsmcp:index:Exposure", resource_name, None, opts)
        settings = args.settings
        child = child_opts(self, provider, args.depends_on)
        scheme = "https" if settings.tls.enabled else "http"
        self.public_url = f"{scheme}://{settings.host}" if settings.mode != "none" else None
        if settings.mode == "ingress":
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
            k8s.networking.v1.Ingress(
                f"{resource_name}-ingress",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=APP_NAME,
                    namespace=args.namespace,
                    labels=args.labels,
                    annotations=annotations or None,
                ),
                spec=k8s.networking.v1.IngressSpecArgs(
                    ingress_class_name=settings.ingress_class_name,
                    tls=tls,
                    rules=[
                        k8s.networking.v1.IngressRuleArgs(
                            host=settings.host,
                            http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                                paths=[
                                    k8s.networking.v1.HTTPIngressPathArgs(
                                        path="/",
                                        path_type="Prefix",
                                        backend=k8s.networking.v1.IngressBackendArgs(
                                            service=k8s.networking.v1.IngressServiceBackendArgs(
                                                name=args.service_name,
                                                port=k8s.networking.v1.ServiceBackendPortArgs(
                                                    number=args.service_port
                                                ),
                                            )
                                        ),
                                    )
                                ]
                            ),
                        )
                    ],
                ),
                opts=child,
            )
        elif settings.mode == "gateway":
            gateway = settings.gateway
            assert gateway is not None
            assert settings.host is not None
            parent_ref: dict[str, object] = {"name": gateway.name, "namespace": gateway.namespace}
            if gateway.section_name is not None:
                parent_ref["sectionName"] = gateway.section_name
            k8s.apiextensions.CustomResource(
                f"{resource_name}-http-route",
                api_version="gateway.networking.k8s.io/v1",
                kind="HTTPRoute",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=APP_NAME,
                    namespace=args.namespace,
                    labels=args.labels,
                    annotations=dict(settings.annotations) or None,
                ),
                spec={
                    "parentRefs": [parent_ref],
                    "hostnames": [settings.host],
                    "rules": [
                        {
                            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "backendRefs": [{"name": args.service_name, "port": args.service_port}],
                        }
                    ],
                },
                opts=child,
            )
        self.register_outputs({"publicUrl": self.public_url})
