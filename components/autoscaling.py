"""Autoscaling: an HPA on CPU/memory utilisation, or a KEDA ScaledObject that also scales on the
agent requests in flight per pod; and a VPA that recommends or sets requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_ref import once_installed
from components.config import AutoscalingSettings, ScalingPolicy, VpaSettings
from components.kube import APP_NAME, CONTAINER_NAME, KubeComponent, child_opts
from components.monitoring import inflight_requests_query

# Keep what runs while Prometheus cannot be read, and at least the fallback replicas.
KEDA_FALLBACK_BEHAVIOR = "currentReplicasIfHigher"


@dataclass(frozen=True)
class AutoscalingArgs:
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    deployment: k8s.apps.v1.Deployment
    hpa: AutoscalingSettings
    vpa: VpaSettings
    # For autoscaling.scaler keda: the namespace and scrape job the in-flight gauge comes from,
    # and the per-pod target (StackConfig.keda_target_inflight).
    namespace_name: str
    job: str
    target_inflight: int
    # From the cluster stack (ClusterFacts): the custom resources wait on these, so that a
    # missing add-on fails the program with its one line instead of an unknown kind.
    keda_installed: pulumi.Input[bool] = True
    vpa_installed: pulumi.Input[bool] = True


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


def _keda_behavior(policy: ScalingPolicy) -> dict[str, Any]:
    return {
        "stabilizationWindowSeconds": policy.stabilization_seconds,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Percent", "value": policy.percent, "periodSeconds": policy.period_seconds}
        ],
    }


def scaled_object_spec(args: AutoscalingArgs, target_name: pulumi.Input[str]) -> dict[str, Any]:
    """The ScaledObject: the Prometheus trigger on in-flight agent requests per pod (KEDA divides
    the query's sum by the target), plus the CPU/memory utilisation targets the HPA would have."""
    hpa, keda = args.hpa, args.hpa.keda
    triggers: list[dict[str, Any]] = [
        {
            "type": "prometheus",
            "name": "inflight-requests",
            "metricType": "AverageValue",
            "metadata": {
                "serverAddress": keda.prometheus_url,
                "query": inflight_requests_query(args.namespace_name, args.job),
                "threshold": str(args.target_inflight),
            },
        }
    ]
    triggers += [
        {"type": name, "metricType": "Utilization", "metadata": {"value": str(target)}}
        for name, target in (("cpu", hpa.cpu_utilization), ("memory", hpa.memory_utilization))
        if target is not None
    ]
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target_name},
        "minReplicaCount": hpa.min_replicas,
        "maxReplicaCount": hpa.max_replicas,
        "pollingInterval": keda.polling_interval_seconds,
        "cooldownPeriod": keda.cooldown_seconds,
        "fallback": {
            "failureThreshold": keda.failure_threshold,
            "replicas": keda.fallback_replicas or hpa.min_replicas,
            "behavior": KEDA_FALLBACK_BEHAVIOR,
        },
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleUp": _keda_behavior(hpa.scale_up),
                    "scaleDown": _keda_behavior(hpa.scale_down),
                }
            }
        },
        "triggers": triggers,
    }


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
        if hpa.enabled and hpa.scaler == "keda":
            k8s.apiextensions.CustomResource(
                f"{resource_name}-scaled-object",
                api_version="keda.sh/v1alpha1",
                kind="ScaledObject",
                metadata=metadata,
                spec=scaled_object_spec(args, once_installed(args.keda_installed, target_name)),
                opts=child_opts(self, provider),
            )
        elif hpa.enabled:
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
                        "name": once_installed(args.vpa_installed, target_name),
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
