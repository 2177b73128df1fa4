"""The cluster project (cluster/) under mocks: add-ons, the Gateway, the ClusterIssuers, outputs."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pulumi
import pytest

from components import cluster_ref
from components.stack_file import stack_config
from tests.components.conftest import one
from tools.render_manifests import CLUSTER, ProgramRun, run_program

RELEASE = "kubernetes:helm.sh/v3:Release"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
CLUSTER_STACKS = ("local", "k3d", "staging", "prod")


@pytest.fixture(scope="module")
def cluster_runs() -> dict[str, ProgramRun]:
    return {stack: run_program(stack, project=CLUSTER) for stack in CLUSTER_STACKS}


def _releases(run: ProgramRun) -> dict[str, Any]:
    return {r.inputs["name"]: r for r in run.of_type(RELEASE)}


def test_releases_are_pinned(cluster_runs: dict[str, ProgramRun]) -> None:
    expected = {
        "local": {"ingress-nginx", "metrics-server", "kube-prometheus-stack"},
        "k3d": {"kube-prometheus-stack"},  # k3s ships Traefik and metrics-server
        "staging": {
            "envoy-gateway",
            "cert-manager",
            "kube-prometheus-stack",
            "metrics-server",
            "vpa",
        },
        "prod": {"envoy-gateway", "cert-manager", "kube-prometheus-stack", "metrics-server", "vpa"},
    }
    for stack, run in cluster_runs.items():
        releases = _releases(run)
        assert set(releases) == expected[stack], stack
        for release in releases.values():
            inputs = release.inputs
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", inputs["version"]), inputs["name"]
            repo = (inputs.get("repositoryOpts") or {}).get("repo") or inputs["chart"]
            assert repo.startswith(("https://", "oci://")), inputs["name"]
            assert inputs["atomic"] is True


def test_kind_ingress_never_waits_for_a_load_balancer(cluster_runs: dict[str, ProgramRun]) -> None:
    controller = _releases(cluster_runs["local"])["ingress-nginx"].inputs["values"]["controller"]
    # Helm's atomic wait: no LoadBalancer Service whose address never comes on kind.
    assert controller["service"]["type"] == "NodePort"
    assert controller["hostPort"] == {"enabled": True}
    assert controller["nodeSelector"]["ingress-ready"] == "true"
    # Pulumi's Ingress await ends when .status.loadBalancer is set: the controller publishes this.
    assert controller["publishService"] == {"enabled": False}
    assert controller["extraArgs"] == {"publish-status-address": "localhost"}
    assert cluster_runs["local"].outputs[cluster_ref.INGRESS_CLASS] == "nginx"
    assert cluster_runs["local"].outputs[cluster_ref.INGRESS_NAMESPACE] == "ingress-nginx"


def test_k3d_uses_the_bundled_traefik(cluster_runs: dict[str, ProgramRun]) -> None:
    outputs = cluster_runs["k3d"].outputs
    assert outputs[cluster_ref.INGRESS_CLASS] == "traefik"
    assert outputs[cluster_ref.INGRESS_NAMESPACE] == "kube-system"


@pytest.mark.parametrize(
    ("stack", "host", "issuer"),
    [
        ("staging", "agentsmcp.staging.example.com", "letsencrypt-staging"),
        ("prod", "agentsmcp.example.com", "letsencrypt-prod"),
    ],
)
def test_gateway_listeners_certificates_and_redirects(
    cluster_runs: dict[str, ProgramRun], stack: str, host: str, issuer: str
) -> None:
    run = cluster_runs[stack]
    releases = {name: r.urn for name, r in _releases(run).items()}
    gateway = one(run, GATEWAY)
    assert gateway.inputs["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": issuer}
    listeners = {listener["name"]: listener for listener in gateway.inputs["spec"]["listeners"]}
    assert set(listeners) == {"http", f"https-{host}"}
    https = listeners[f"https-{host}"]
    assert https["hostname"] == host
    assert https["tls"]["certificateRefs"] == [{"name": host.replace(".", "-") + "-tls"}]
    assert releases["envoy-gateway"] in gateway.dependencies
    (redirect,) = run.of_type(ROUTE)
    assert redirect.inputs["spec"]["parentRefs"][0]["sectionName"] == "http"
    assert redirect.inputs["spec"]["rules"][0]["filters"][0]["requestRedirect"]["scheme"] == "https"
    issuers = {i.inputs["metadata"]["name"]: i for i in run.of_type(ISSUER)}
    assert set(issuers) == {"letsencrypt-staging", "letsencrypt-prod"}
    for found in issuers.values():
        (solver,) = found.inputs["spec"]["acme"]["solvers"]
        assert solver["http01"]["gatewayHTTPRoute"]["parentRefs"] == [
            {"name": "public", "namespace": "gateway", "kind": "Gateway", "sectionName": "http"}
        ]
        assert releases["cert-manager"] in found.dependencies
    cert_manager = _releases(run)["cert-manager"]
    assert cert_manager.inputs["values"]["config"]["enableGatewayAPI"] is True
    assert releases["envoy-gateway"] in cert_manager.dependencies
    outputs = run.outputs
    assert outputs[cluster_ref.GATEWAY_NAME] == "public"
    assert outputs[cluster_ref.GATEWAY_NAMESPACE] == "gateway"
    assert outputs[cluster_ref.GATEWAY_TRAFFIC_NAMESPACE] == "envoy-gateway-system"
    assert outputs[cluster_ref.MONITORING_NAMESPACE] == "monitoring"
    assert outputs[cluster_ref.PROMETHEUS_RELEASE_LABEL] == "kube-prometheus-stack"
    assert outputs["clusterIssuers"] == ["letsencrypt-prod", "letsencrypt-staging"]


def test_every_app_stack_host_has_a_listener() -> None:
    for app_stack in ("staging", "prod"):
        app = stack_config(app_stack)
        cluster = stack_config(app["agentsmcp:cluster"]["stack"].rsplit("/", 1)[1], CLUSTER.root)
        assert app["agentsmcp:exposure"]["host"] in cluster["agentsmcp-cluster:gateway"]["tlsHosts"]


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"agentsmcp-cluster:bogus": "1"}, "agentsmcp-cluster:bogus: unknown key"),
        (
            {"agentsmcp-cluster:certManager": {"enabled": True}},
            "agentsmcp-cluster:certManager.email: required for the ACME account",
        ),
        (
            {"agentsmcp-cluster:gateway": {"tlsHosts": ["a.example.com"]}},
            "agentsmcp-cluster:gateway.clusterIssuer: required with gateway.tlsHosts",
        ),
        (
            {"agentsmcp-cluster:exposure": "traefik"},
            "agentsmcp-cluster:exposure: Input should be 'gateway', 'ingress' or 'existing'",
        ),
    ],
)
def test_cluster_config_mistakes_name_the_key(change: dict[str, Any], line: str) -> None:
    config = {**stack_config("staging", CLUSTER.root), **change}
    with pytest.raises(pulumi.RunError) as caught:
        run_program("staging", project=CLUSTER, config=config)
    assert line in str(caught.value)
    assert "Traceback" not in str(caught.value)


def _dev_against_k3d(settings: str) -> subprocess.CompletedProcess[str]:
    """The dev app stack with ``settings`` (config_with keywords) against the k3d cluster stack
    (Traefik; no Gateway, KEDA, VPA or ESO), in a child process: a failed program leaves
    Pulumi's runtime state behind."""
    code = (
        "from tools.render_manifests import run_program\n"
        "from tests.components.conftest import config_with\n"
        "config = config_with('dev', cluster={'stack': 'organization/agentsmcp-cluster/k3d'},\n"
        f"    {settings})\n"
        # Stack secrets must be unset with externalSecrets; the placeholders otherwise.
        "secrets = {} if 'agentsmcp:externalSecrets' in config else None\n"
        "run_program('dev', config=config, secrets=secrets)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=CLUSTER.root.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_app_stack_needing_what_its_cluster_stack_lacks_gets_one_line() -> None:
    """Gateway exposure against a cluster stack without a Gateway: a named error."""
    result = _dev_against_k3d("exposure={'mode': 'gateway', 'host': 'agentsmcp.localtest.me'}")
    assert result.returncode != 0
    assert (
        "agentsmcp:cluster.stack: organization/agentsmcp-cluster/k3d exports no 'gatewayName'"
        in result.stderr
    )


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        (
            "autoscaling={'enabled': True, 'scaler': 'keda'}",
            "agentsmcp:autoscaling.scaler: keda needs KEDA (agentsmcp-cluster:keda), but"
            " agentsmcp:cluster.stack: organization/agentsmcp-cluster/k3d exports"
            " kedaInstalled=False",
        ),
        (
            "externalSecrets={'enabled': True, 'store': {'name': 'vault'},"
            " 'dataFrom': ['agentsmcp/dev']}",
            "agentsmcp:externalSecrets.enabled needs the External Secrets Operator"
            " (agentsmcp-cluster:externalSecrets), but agentsmcp:cluster.stack:"
            " organization/agentsmcp-cluster/k3d exports externalSecretsInstalled=False",
        ),
        (
            "vpa={'enabled': True}",
            "agentsmcp:vpa.enabled needs the VPA (agentsmcp-cluster:vpa), but"
            " agentsmcp:cluster.stack: organization/agentsmcp-cluster/k3d exports"
            " vpaInstalled=False",
        ),
    ],
)
def test_an_app_stack_needing_an_add_on_its_cluster_stack_lacks_gets_one_line(
    setting: str, line: str
) -> None:
    """KEDA, the VPA or ESO asked for against a cluster stack without it: without the check
    the program would send a ScaledObject, VPA or ExternalSecret of a kind the cluster lacks."""
    result = _dev_against_k3d(setting)
    assert result.returncode != 0
    assert line in result.stderr


def test_an_otel_collector_is_installed_on_request() -> None:
    config = {
        **stack_config("staging", CLUSTER.root),
        "agentsmcp-cluster:otelCollector": {"enabled": True},
    }
    release = _releases(run_program("staging", project=CLUSTER, config=config))["otel-collector"]
    inputs = release.inputs
    assert inputs["chart"] == "opentelemetry-collector"
    assert inputs["namespace"] == "observability"
    assert inputs["values"]["mode"] == "deployment"
    # The Service app stacks' tracing.endpoint names: otel-collector.observability.svc:4318.
    assert inputs["values"]["fullnameOverride"] == "otel-collector"
