"""``tracing``: the standard OpenTelemetry environment on the server's pods and egress to the
collector; nothing changes without it."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from tests.components.conftest import config_with
from tools.render_manifests import ProgramRun, run_program

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def _named(run: ProgramRun, type_token: str, name: str) -> dict[str, Any]:
    for reg in run.of_type(type_token):
        if reg.inputs["metadata"]["name"] == name:
            return reg.inputs
    raise AssertionError(f"no {type_token} named {name}")


def _env(run: ProgramRun) -> dict[str, str]:
    (container,) = [
        c
        for c in _named(run, DEPLOYMENT, "agentsmcp")["spec"]["template"]["spec"]["containers"]
        if c["name"] == "agentsmcp"
    ]
    return {var["name"]: var.get("value") for var in container["env"]}


def _egress(run: ProgramRun) -> list[dict[str, Any]]:
    egress: list[dict[str, Any]] = _named(run, NETWORK_POLICY, "agentsmcp")["spec"]["egress"]
    return egress


def test_an_in_cluster_collector_gets_the_environment_and_its_namespace() -> None:
    endpoint = "http://otel-collector.observability.svc:4318"
    tracing = {"endpoint": endpoint, "samplerRatio": 0.25}
    run = run_program("prod", config=config_with("prod", tracing=tracing))
    env = _env(run)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    assert "deployment.environment.name=production" in env["OTEL_RESOURCE_ATTRIBUTES"]
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}
    assert {"to": [peer], "ports": [{"port": 4318, "protocol": "TCP"}]} in _egress(run)


def test_an_external_collector_is_reached_on_its_cidrs() -> None:
    tracing = {"endpoint": "https://otlp.example.com:4318", "egressCidrs": ["10.30.0.0/16"]}
    run = run_program("prod", config=config_with("prod", tracing=tracing))
    assert {
        "to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}],
        "ports": [{"port": 4318, "protocol": "TCP"}],
    } in _egress(run)


def test_an_external_collector_needs_its_cidrs() -> None:
    config = config_with("prod", tracing={"endpoint": "https://otlp.example.com"})
    with pytest.raises(pulumi.RunError, match=r"agentsmcp:tracing.egressCidrs: required"):
        run_program("prod", config=config)


def test_without_tracing_nothing_is_added() -> None:
    run = run_program("prod")
    assert not any(name.startswith("OTEL_") for name in _env(run))
    assert len(_egress(run)) == 2
