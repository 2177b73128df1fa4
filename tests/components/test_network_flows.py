"""The rendered NetworkPolicies judged by a real NetworkPolicy engine, not by reading our own dicts.

cyclonus (https://github.com/mattfenwick/cyclonus, built by ``make tools``) implements the
Kubernetes NetworkPolicy semantics (ingress of the destination and egress of the source, named
ports, ipBlock except, namespace and pod selectors) and answers, offline, whether a flow is
allowed. Each flow below is one a real cluster needs (or must refuse).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.components.conftest import config_with, ingress_tls_staging_config
from tests.components.test_tool_servers import tools_config
from tools.render_manifests import render_documents, run_program

ROOT = Path(__file__).resolve().parents[2]
CYCLONUS = ROOT / ".venv-tools" / "bin" / "cyclonus"
APP_LABELS = {"app.kubernetes.io/name": "agentsmcp", "app.kubernetes.io/part-of": "agentsmcp"}
SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}


@dataclass(frozen=True)
class Peer:
    namespace: str | None = None
    labels: dict[str, str] | None = None
    ip: str = "10.244.1.10"

    def wire(self) -> dict[str, Any]:
        if self.namespace is None:
            return {"IP": self.ip}
        return {
            "Internal": {
                "PodLabels": self.labels or {"app": "other"},
                "NamespaceLabels": {"kubernetes.io/metadata.name": self.namespace},
                "Namespace": self.namespace,
            },
            "IP": self.ip,
        }


def app(stack: str) -> Peer:
    return Peer(f"agentsmcp-{stack}", {**APP_LABELS, "app.kubernetes.io/instance": stack})


def _policies(tmp_path: Path, stack: str, config: dict[str, Any] | None = None) -> Path:
    directory = tmp_path / "policies"
    directory.mkdir()
    files = render_documents(run_program(stack, config=config))
    for name, text in files.items():
        if name.startswith("networkpolicy-"):
            (directory / name).write_text(text, encoding="utf-8")
    return directory


def allowed(
    policies: Path, source: Peer, destination: Peer, port: int, name: str, protocol: str = "TCP"
) -> bool:
    if not CYCLONUS.is_file():
        pytest.fail(f"{CYCLONUS} is missing: run `make tools` (needs Go 1.22+)")
    traffic = policies.parent / "traffic.json"
    flow = {
        "Source": source.wire(),
        "Destination": destination.wire(),
        "ResolvedPort": port,
        "ResolvedPortName": name,
        "Protocol": protocol,
    }
    traffic.write_text(json.dumps([flow]), encoding="utf-8")
    result = subprocess.run(
        [
            str(CYCLONUS),
            "analyze",
            "--mode",
            "query-traffic",
            "--policy-path",
            str(policies),
            "--traffic-path",
            str(traffic),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    verdicts = [line for line in result.stdout.splitlines() if "IS ALLOWED?" in line]
    assert len(verdicts) == 1, result.stdout
    return "TRUE" in verdicts[0]


INGRESS_NGINX = Peer("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
PROMETHEUS = Peer("monitoring", {"app.kubernetes.io/name": "prometheus"})
STRANGER = Peer("default", {"app": "curl"})
COREDNS = Peer("kube-system", {"k8s-app": "kube-dns"}, ip="10.96.0.10")


def test_dev_flows(tmp_path: Path) -> None:
    policies = _policies(tmp_path, "dev")
    pod = app("dev")
    assert allowed(policies, INGRESS_NGINX, pod, 8000, "http")
    # /metrics has its own port: Prometheus reaches it, the public path does not (item 9).
    assert not allowed(policies, INGRESS_NGINX, pod, 9090, "metrics")
    assert allowed(policies, PROMETHEUS, pod, 9090, "metrics")
    assert not allowed(policies, PROMETHEUS, pod, 8000, "http")
    assert not allowed(policies, STRANGER, pod, 8000, "http")
    # DNS: CoreDNS pods and NodeLocal DNSCache's link-local address (item 8).
    assert allowed(policies, pod, COREDNS, 53, "dns", "UDP")
    assert allowed(policies, pod, Peer(ip="169.254.20.10"), 53, "dns", "UDP")
    assert allowed(policies, pod, Peer(ip="169.254.20.10"), 53, "dns-tcp", "TCP")
    assert allowed(policies, pod, Peer(ip="162.159.140.245"), 443, "https")
    assert not allowed(policies, pod, Peer(ip="10.1.2.3"), 443, "https")
    assert not allowed(policies, pod, Peer(ip="162.159.140.245"), 80, "http")


def test_http01_solver_is_reachable_from_the_ingress_controller(tmp_path: Path) -> None:
    policies = _policies(tmp_path, "staging", ingress_tls_staging_config())
    solver = Peer("agentsmcp-staging", SOLVER_LABELS, ip="10.244.1.20")
    assert allowed(policies, INGRESS_NGINX, solver, 8089, "http")
    assert not allowed(policies, STRANGER, solver, 8089, "http")
    assert not allowed(policies, INGRESS_NGINX, solver, 8080, "other")


def test_gateway_traffic_comes_from_the_data_plane_namespace(tmp_path: Path) -> None:
    policies = _policies(tmp_path, "prod")
    envoy = Peer("envoy-gateway-system", {"app.kubernetes.io/name": "envoy"})
    assert allowed(policies, envoy, app("prod"), 8000, "http")
    assert not allowed(policies, Peer("gateway", {"app": "x"}), app("prod"), 8000, "http")
    assert not allowed(policies, INGRESS_NGINX, app("prod"), 8000, "http")


def test_extra_egress_and_ingress_sources(tmp_path: Path) -> None:
    network_policy = {
        "ingressSources": [{"cidrs": ["192.168.50.0/24"]}, {"namespace": "traefik"}],
        "extraEgress": [
            {"namespace": "llm", "podLabels": {"app": "vllm"}, "ports": [{"port": 8000}]},
            {"cidrs": ["10.20.0.0/16"], "exceptCidrs": ["10.20.5.0/24"], "ports": [{"port": 3128}]},
        ],
    }
    policies = _policies(tmp_path, "dev", config_with("dev", networkPolicy=network_policy))
    pod = app("dev")
    assert allowed(policies, Peer(ip="192.168.50.7"), pod, 8000, "http")
    assert allowed(policies, Peer("traefik", {"app": "traefik"}), pod, 8000, "http")
    assert not allowed(policies, INGRESS_NGINX, pod, 8000, "http")
    assert allowed(policies, pod, Peer("llm", {"app": "vllm"}), 8000, "vllm")
    assert not allowed(policies, pod, Peer("llm", {"app": "other"}), 8000, "vllm")
    assert allowed(policies, pod, Peer(ip="10.20.1.1"), 3128, "proxy")
    assert not allowed(policies, pod, Peer(ip="10.20.5.1"), 3128, "proxy")


def test_load_balancer_source_ranges(tmp_path: Path) -> None:
    balancer = {"enabled": True, "sourceRanges": ["203.0.113.0/24"]}
    policies = _policies(tmp_path, "dev", config_with("dev", loadBalancer=balancer))
    pod = app("dev")
    assert allowed(policies, Peer(ip="203.0.113.7"), pod, 8000, "http")
    assert not allowed(policies, Peer(ip="198.51.100.1"), pod, 8000, "http")
    assert not allowed(policies, Peer(ip="203.0.113.7"), pod, 9090, "metrics")


def test_in_cluster_tool_servers_are_reachable_and_nothing_else(tmp_path: Path) -> None:
    servers = {"search": {"url": "http://search.tools.svc:8080/mcp"}}
    config = tools_config("dev", servers)
    policies = _policies(tmp_path, "dev", config)
    pod = app("dev")
    search = Peer("tools", {"app": "search"}, ip="10.244.2.20")
    assert allowed(policies, pod, search, 8080, "mcp")
    assert not allowed(policies, pod, search, 8081, "mcp")
    assert not allowed(policies, pod, Peer("other", {"app": "search"}), 8080, "mcp")
