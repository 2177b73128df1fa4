"""Namespace baseline: Pod Security `restricted`, a quota, default limits, and deny-all traffic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import LimitRangeSettings, QuotaSettings
from components.kube import KubeComponent, child_opts

POD_SECURITY_LEVEL = "restricted"


def pod_security_labels() -> dict[str, str]:
    """Pod Security Admission enforces, audits and warns at ``restricted``."""
    return {
        f"pod-security.kubernetes.io/{mode}": POD_SECURITY_LEVEL
        for mode in ("enforce", "audit", "warn")
    }


@dataclass(frozen=True)
class NamespaceBaselineArgs:
    name: str
    labels: dict[str, str]
    quota: QuotaSettings
    limit_range: LimitRangeSettings


class NamespaceBaseline(KubeComponent[NamespaceBaselineArgs]):
    namespace: k8s.core.v1.Namespace
    name: pulumi.Output[str]

    TYPE = "agentsmcp:index:NamespaceBaseline"

    def _build(
        self, resource_name: str, args: NamespaceBaselineArgs, provider: k8s.Provider
    ) -> Mapping[str, Any]:
        self.namespace = k8s.core.v1.Namespace(
            f"{resource_name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.name, labels={**args.labels, **pod_security_labels()}
            ),
            opts=child_opts(self, provider),
        )
        self.name = self.namespace.metadata.apply(lambda meta: meta.name or args.name)
        in_namespace = child_opts(self, provider, [self.namespace])
        quota = args.quota
        k8s.core.v1.ResourceQuota(
            f"{resource_name}-quota",
            metadata=_in_namespace(args, "agentsmcp-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": quota.requests_cpu,
                    "requests.memory": quota.requests_memory,
                    "limits.cpu": quota.limits_cpu,
                    "limits.memory": quota.limits_memory,
                    "pods": str(quota.pods),
                }
            ),
            opts=in_namespace,
        )
        limits = args.limit_range
        k8s.core.v1.LimitRange(
            f"{resource_name}-limits",
            metadata=_in_namespace(args, "agentsmcp-limits"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request=limits.default_request.quantities(),
                        default=limits.default_limit.quantities(),
                        max=limits.max.quantities(),
                    )
                ]
            ),
            opts=in_namespace,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{resource_name}-default-deny",
            metadata=_in_namespace(args, "default-deny-all"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
            ),
            opts=in_namespace,
        )
        return {"name": self.name}


def _in_namespace(args: NamespaceBaselineArgs, name: str) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=args.name, labels=args.labels)
