"""Autoscaling: an HPA on CPU/memory utilisation and a VPA that recommends or sets requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import AutoscalingSettings, ScalingPolicy, VpaSettings
from components.kube import APP_NAME, CONTAINER_NAME, KubeComponent, child_opts


@dataclass(frozen=True)
class AutoscalingArgs:
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    deployment: k8s.apps.v1.Deployment
    hpa: AutoscalingSettings
    vpa: VpaSettings


def _behavior(policy: ScalingPolicy) -> k8s.autoscaling.v2.HPAScalingRulesArgs:
    return k8s.autoscaling.v2.HPAScalingRulesArgs(
        stabilization_window_seconds=policy.stabilization_seconds,
        select_policy="Max",
        policies=[
            k8s.autoscaling.v2.HPAScalingPolicyArgs(
                type="Percent", value=policy.percent, period_seconds=policy.period_seconds
            )
        ],
    )


class Autoscaling(KubeComponent[AutoscalingArgs]):
    TYPE = "agentsmcp:index:Autoscaling"

    def _build(
        self, resource_name: str, args: AutoscalingArgs, provider: k8s.Provider
    ) -> Mapping[str, Any]:
        target_name = args.deployment.metadata.apply(lambda m: m.name or APP_NAME)
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=APP_NAME, namespace=args.namespace, labels=args.labels
        )
        hpa = args.hpa
        if hpa.enabled:
            metrics = [
                k8s.autoscaling.v2.MetricSpecArgs(
                    type="Resource",
                    resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                        name=name,
                        target=k8s.autoscaling.v2.MetricTargetArgs(
                            type="Utilization", average_utilization=target
                        ),
                    ),
                )
                for name, target in (
                    ("cpu", hpa.cpu_utilization),
                    ("memory", hpa.memory_utilization),
                )
                if target is not None
            ]
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{resource_name}-hpa",
                metadata=metadata,
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=target_name
                    ),
                    min_replicas=hpa.min_replicas,
                    max_replicas=hpa.max_replicas,
                    metrics=metrics,
                    behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                        scale_up=_behavior(hpa.scale_up),
                        scale_down=_behavior(hpa.scale_down),
                    ),
                ),
                opts=child_opts(self, provider),
            )
        if args.vpa.enabled:
            k8s.apiextensions.CustomResource(
                f"{resource_name}-vpa",
                api_version="autoscaling.k8s.io/v1",
                kind="VerticalPodAutoscaler",
                metadata=metadata,
                spec={
                    "targetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": target_name,
                    },
                    "updatePolicy": {"updateMode": args.vpa.update_mode},
                    "resourcePolicy": {
                        "containerPolicies": [
                            {
                                "containerName": CONTAINER_NAME,
                                "controlledResources": ["cpu", "memory"],
                            }
                        ]
                    },
                },
                opts=child_opts(self, provider),
            )
        return {}
