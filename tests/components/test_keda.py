"""``autoscaling.scaler: keda``: a KEDA ScaledObject on in-flight agent requests per pod instead
of the HPA; the Prometheus query it scales on, run by promtool; the cluster stack's KEDA option.

`make e2e` checks the rendered ScaledObject against KEDA's published CRD on a real API server
(tests/e2e, variant ``prod-keda``)."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.stack_file import stack_config
from tests.components.conftest import config_with, one
from tests.components.test_config import assert_names, raw
from tests.components.test_external_secrets import CLUSTER_WITH_ESO
from tools.render_manifests import CLUSTER, ProgramRun, run_program

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
RELEASE = "kubernetes:helm.sh/v3:Release"
KEDA = {"enabled": True, "scaler": "keda", "minReplicas": 3, "maxReplicas": 12}
# The prod cluster stack with KEDA installed, as an app stack with scaler keda needs it.
CLUSTER_WITH_KEDA = {"agentsmcp-cluster:keda": {"enabled": True}}


def _keda_run(**keda: Any) -> ProgramRun:
    autoscaling = {**stack_config("prod")["agentsmcp:autoscaling"], **KEDA}
    if keda:
        autoscaling["keda"] = keda
    config = config_with("prod", autoscaling=autoscaling)
    return run_program("prod", config=config, cluster_config=CLUSTER_WITH_KEDA)


def _spec(run: ProgramRun) -> dict[str, Any]:
    spec: dict[str, Any] = one(run, SCALED_OBJECT).inputs["spec"]
    return spec


def test_keda_replaces_the_hpa_and_owns_the_replicas() -> None:
    run = _keda_run()
    assert run.of_type(HPA) == []
    deployment = one(run, DEPLOYMENT).inputs
    assert "replicas" not in deployment["spec"]
    spec = _spec(run)
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "agentsmcp",
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (3, 12)
    # Prometheus unreadable for 3 polls: keep what runs, at least minReplicas.
    assert spec["fallback"] == {
        "failureThreshold": 3,
        "replicas": 3,
        "behavior": "currentReplicasIfHigher",
    }
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] > 0


def test_the_trigger_is_in_flight_requests_per_pod_below_the_limit() -> None:
    spec = _spec(_keda_run())
    prometheus, *resources = spec["triggers"]
    assert prometheus["type"] == "prometheus"
    assert prometheus["metricType"] == "AverageValue"
    metadata = prometheus["metadata"]
    assert (
        metadata["serverAddress"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
    )
    assert metadata["query"] == (
        'sum(agentsmcp_agent_requests_in_flight{namespace="agentsmcp-prod",job="agentsmcp"})'
    )
    # prod's serverConfig.server.max_inflight_runs is 300: half of it per pod by default.
    limit = stack_config("prod")["agentsmcp:serverConfig"]["server"]["max_inflight_runs"]
    assert metadata["threshold"] == str(limit // 2)
    # Not on CPU alone, but still on CPU and memory as the HPA would.
    assert [(t["type"], t["metricType"]) for t in resources] == [
        ("cpu", "Utilization"),
        ("memory", "Utilization"),
    ]


def test_keda_settings_are_used() -> None:
    spec = _spec(
        _keda_run(
            prometheusUrl="https://prometheus.example.internal:9091",
            targetInflightPerPod=40,
            fallbackReplicas=6,
            failureThreshold=5,
            pollingIntervalSeconds=10,
            cooldownSeconds=120,
        )
    )
    metadata = spec["triggers"][0]["metadata"]
    assert metadata["serverAddress"] == "https://prometheus.example.internal:9091"
    assert metadata["threshold"] == "40"
    assert spec["fallback"]["replicas"] == 6
    assert spec["fallback"]["failureThreshold"] == 5
    assert (spec["pollingInterval"], spec["cooldownPeriod"]) == (10, 120)


def test_hpa_stays_the_default() -> None:
    run = run_program("prod")
    assert run.of_type(SCALED_OBJECT) == []
    assert len(run.of_type(HPA)) == 1


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        ("autoscaling", {"enabled": False, "scaler": "keda"}, "autoscaling.scaler"),
        ("autoscaling.scaler", "kubernetes", "autoscaling.scaler"),
        ("autoscaling.keda.targetInflightPerPod", 10_000, "autoscaling.keda.targetInflightPerPod"),
        ("autoscaling.keda.fallbackReplicas", 500, "autoscaling.keda.fallbackReplicas"),
        ("autoscaling.keda.prometheusUrl", "prometheus:9090", "autoscaling.keda.prometheusUrl"),
        ("autoscaling.keda.pollingIntervalSeconds", 0, "autoscaling.keda.pollingIntervalSeconds"),
    ],
)
def test_keda_mistakes_name_the_key(path: str, value: Any, key: str) -> None:
    config = raw("prod")
    config["autoscaling"] = {**config["autoscaling"], **KEDA}
    line = assert_names(_put(config, path, value), key)
    assert "\n" not in line


def _put(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = config
    *parents, last = path.split(".")
    for part in parents:
        node[part] = dict(node.get(part) or {})
        node = node[part]
    node[last] = value
    return config


def test_the_cluster_stack_installs_the_external_secrets_operator_on_request() -> None:
    config = {**stack_config("prod", CLUSTER.root), **CLUSTER_WITH_ESO}
    run = run_program("prod", project=CLUSTER, config=config)
    releases = {r.inputs["name"]: r.inputs for r in run.of_type(RELEASE)}
    release = releases["external-secrets"]
    assert (release["chart"], release["version"]) == ("external-secrets", "1.3.2")
    assert release["repositoryOpts"]["repo"] == "https://charts.external-secrets.io"
    assert release["namespace"] == "external-secrets"
    assert run.outputs["externalSecretsInstalled"] is True
    assert run_program("prod", project=CLUSTER).outputs["externalSecretsInstalled"] is False


def test_the_cluster_stack_installs_keda_on_request() -> None:
    config = {**stack_config("prod", CLUSTER.root), "agentsmcp-cluster:keda": {"enabled": True}}
    run = run_program("prod", project=CLUSTER, config=config)
    releases = {r.inputs["name"]: r.inputs for r in run.of_type(RELEASE)}
    assert releases["keda"]["chart"] == "keda"
    assert releases["keda"]["version"] == "2.20.2"
    assert releases["keda"]["repositoryOpts"]["repo"] == "https://kedacore.github.io/charts"
    assert run.outputs["kedaInstalled"] is True
    default = run_program("prod", project=CLUSTER)
    assert "keda" not in {r.inputs["name"] for r in default.of_type(RELEASE)}


# The query KEDA runs, evaluated by Prometheus' own engine: pods of this stack are summed (also
# one that is draining), other namespaces and jobs are not, and the replicas KEDA derives
# (ceil(sum / per-pod target), AverageValue) follow.
PROMTOOL_SERIES = [
    (
        'agentsmcp_agent_requests_in_flight{namespace="agentsmcp-prod",job="agentsmcp",pod="a"}',
        "100x10",
    ),
    (
        'agentsmcp_agent_requests_in_flight{namespace="agentsmcp-prod",job="agentsmcp",pod="b"}',
        "120x10",
    ),
    (
        'agentsmcp_agent_requests_in_flight{namespace="agentsmcp-prod",job="agentsmcp",pod="c"}',
        "90x10",
    ),
    (
        'agentsmcp_agent_requests_in_flight{namespace="agentsmcp-dev",job="agentsmcp",pod="d"}',
        "900x10",
    ),
    (
        'agentsmcp_agent_requests_in_flight{namespace="agentsmcp-prod",job="other",pod="e"}',
        "900x10",
    ),
]


def _promtool_tests(query: str, threshold: int, expected_sum: float) -> dict[str, Any]:
    return {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in PROMTOOL_SERIES],
                "promql_expr_test": [
                    {
                        "expr": query,
                        "eval_time": "5m",
                        "exp_samples": [{"labels": "{}", "value": expected_sum}],
                    },
                    {
                        "expr": f"ceil(({query}) / {threshold})",
                        "eval_time": "5m",
                        "exp_samples": [
                            {"labels": "{}", "value": math.ceil(expected_sum / threshold)}
                        ],
                    },
                ],
            }
        ],
    }


def _promtool(tests: dict[str, Any], directory: Path) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    path = directory / "keda-query.yaml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    return subprocess.run(
        [promtool, "test", "rules", path.name],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )


def test_promtool_evaluates_the_scaling_query(tmp_path: Path) -> None:
    trigger = _spec(_keda_run())["triggers"][0]["metadata"]
    query, threshold = trigger["query"], int(trigger["threshold"])
    passed = _promtool(_promtool_tests(query, threshold, 310), tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    # 310 in flight at 128 per pod: 3 replicas.
    assert math.ceil(310 / threshold) == 3
    # The test can fail: a query that also counted the other namespace would.
    failed = _promtool(_promtool_tests(query, threshold, 1210), tmp_path)
    assert failed.returncode != 0
