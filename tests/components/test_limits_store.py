"""The shared limits store in the Pulumi program: a Valkey of our own or an external store."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.config import ValkeySettings
from components.limits_store import VALKEY_NAME, valkey_conf
from tests.components.conftest import config_with, server_config, server_config_map
from tools.render_manifests import PLACEHOLDER_SECRETS, SECRET_SIG, SIG_KEY, ProgramRun, run_program
from validation._manifests import Manifest

STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SECRET = "kubernetes:core/v1:Secret"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SHARED = {"enabled": True, "requests_per_minute": 600, "burst": 100, "backend": "redis"}


def _run(
    stack: str = "prod", secrets: dict[str, str] | None = None, **overrides: Any
) -> ProgramRun:
    config = config_with(stack, serverConfig=server_config(stack, rate_limit=SHARED), **overrides)
    return run_program(stack, config=config, secrets=secrets)


def _named(run: ProgramRun, type_token: str, name: str) -> dict[str, Any]:
    for reg in run.of_type(type_token):
        if reg.inputs["metadata"]["name"] == name:
            return reg.inputs
    raise AssertionError(f"no {type_token} named {name}")


def _server_egress(run: ProgramRun) -> list[dict[str, Any]]:
    egress: list[dict[str, Any]] = _named(run, NETWORK_POLICY, "agentsmcp")["spec"]["egress"]
    return egress


def test_valkey_mode_deploys_a_restricted_store_only_our_pods_reach() -> None:
    run = _run(limitsStore={"mode": "valkey"})
    statefulset = _named(run, STATEFUL_SET, VALKEY_NAME)
    manifest = Manifest(Path("statefulset.yaml"), statefulset)
    pod = statefulset["spec"]["template"]
    # Pod Security restricted is judged by the real API server: tests/e2e (variant prod-valkey).
    container = pod["spec"]["containers"][0]
    assert container["image"] == ValkeySettings().image
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert manifest.kind == "StatefulSet"
    # Persistence off: counters live a minute or a day.
    assert "volumeClaimTemplates" not in statefulset["spec"]
    assert {v["name"]: "emptyDir" in v for v in pod["spec"]["volumes"]}["data"]
    pdb = _named(run, PDB, VALKEY_NAME)["spec"]
    assert pdb["maxUnavailable"] == 1
    policy = _named(run, NETWORK_POLICY, VALKEY_NAME)["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy.get("egress", []) == []
    server_pods = {"app.kubernetes.io/name": "agentsmcp", "app.kubernetes.io/instance": "prod"}
    assert policy["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": server_pods}}],
            "ports": [{"port": "valkey", "protocol": "TCP"}],
        }
    ]
    valkey_pods = policy["podSelector"]["matchLabels"]
    # The server may reach exactly those pods, on the store's port.
    assert {
        "to": [{"podSelector": {"matchLabels": valkey_pods}}],
        "ports": [{"port": 6379, "protocol": "TCP"}],
    } in _server_egress(run)
    # The server's Secret carries the URL and password; the store's config is a Secret too.
    server_secret = _named(run, SECRET, "agentsmcp-secrets")["stringData"]
    assert server_secret.get(SIG_KEY) == SECRET_SIG
    assert {"REDIS_URL", "REDIS_PASSWORD"} <= set(server_secret["value"])
    assert server_secret["value"]["REDIS_URL"] == (
        "redis://agentsmcp-valkey.agentsmcp-prod.svc.cluster.local:6379/0"
    )
    assert _named(run, SECRET, VALKEY_NAME)["stringData"].get(SIG_KEY) == SECRET_SIG
    server_config = server_config_map(run).inputs["data"]["config.yaml"]
    assert "backend: redis" in server_config


def test_valkey_password_is_generated_when_not_given() -> None:
    secrets = {k: v for k, v in PLACEHOLDER_SECRETS.items() if k != "redisPassword"}
    run = _run(secrets=secrets, limitsStore={"mode": "valkey"})
    password = _named(run, SECRET, "agentsmcp-secrets")["stringData"]["value"]["REDIS_PASSWORD"]
    assert password.startswith("generated-")


def test_valkey_persistence_is_a_volume_claim_when_enabled() -> None:
    store = {"mode": "valkey", "valkey": {"persistence": {"enabled": True, "size": "2Gi"}}}
    statefulset = _named(_run(limitsStore=store), STATEFUL_SET, VALKEY_NAME)
    claims = statefulset["spec"]["volumeClaimTemplates"]
    assert claims[0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    names = {v["name"] for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    assert names == {"config"}


def test_external_mode_points_the_server_at_an_existing_store() -> None:
    store = {"mode": "external", "external": {"egressCidrs": ["10.20.0.0/16"], "port": 6380}}
    run = _run(limitsStore=store)
    assert run.of_type(STATEFUL_SET) == []
    assert {
        "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
        "ports": [{"port": 6380, "protocol": "TCP"}],
    } in _server_egress(run)
    values = _named(run, SECRET, "agentsmcp-secrets")["stringData"]["value"]
    assert values["REDIS_URL"] == PLACEHOLDER_SECRETS["redisUrl"]


def test_without_a_store_nothing_is_added() -> None:
    run = run_program("prod")
    assert run.of_type(STATEFUL_SET) == []
    assert len(_server_egress(run)) == 2
    values = _named(run, SECRET, "agentsmcp-secrets")["stringData"]["value"]
    assert "REDIS_URL" not in values


@pytest.mark.parametrize(
    ("overrides", "secrets", "expected"),
    [
        ({}, None, "agentsmcp:limitsStore.mode: serverConfig.rate_limit.backend is redis"),
        (
            {"limitsStore": {"mode": "external"}},
            None,
            "agentsmcp:limitsStore.external.egressCidrs: required with an external store",
        ),
        (
            {"limitsStore": {"mode": "external", "external": {"egressCidrs": ["10.0.0.0/8"]}}},
            {k: v for k, v in PLACEHOLDER_SECRETS.items() if k != "redisUrl"},
            "agentsmcp:redisUrl: required with limitsStore.mode external",
        ),
        (
            {"limitsStore": {"mode": "valkey", "valkey": {"maxMemory": "lots"}}},
            None,
            "agentsmcp:limitsStore.valkey.maxMemory:",
        ),
    ],
)
def test_store_misconfiguration_names_the_key(
    overrides: dict[str, Any], secrets: dict[str, str] | None, expected: str
) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        _run(secrets=secrets, **overrides)
    assert expected in str(caught.value)


def test_a_store_without_the_redis_backend_is_refused() -> None:
    config = config_with("prod", limitsStore={"mode": "valkey"})
    with pytest.raises(
        pulumi.RunError, match=r"agentsmcp:serverConfig.rate_limit.backend: must be 'redis'"
    ):
        run_program("prod", config=config)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_the_rendered_valkey_conf_runs_on_a_real_server(tmp_path: Path) -> None:
    # Valkey reads Redis's configuration format; redis-server (Debian) checks the same directives.
    conf = valkey_conf("s3cret-password", ValkeySettings())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = conf.replace("port 6379", f"port {port}").replace("dir /data", f"dir {tmp_path}")
    (tmp_path / "valkey.conf").write_text(conf)
    server = subprocess.Popen(["redis-server", str(tmp_path / "valkey.conf")])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["redis-cli", "-p", str(port), "PING"],
                capture_output=True,
                text=True,
                check=False,
            )
            if probe.returncode == 0 and probe.stdout.strip():
                break
            time.sleep(0.05)
        assert "NOAUTH" in probe.stdout
        cli = ["redis-cli", "-p", str(port), "--no-auth-warning", "-a", "s3cret-password"]
        assert subprocess.run(
            [*cli, "CONFIG", "GET", "maxmemory-policy"], capture_output=True, text=True, check=True
        ).stdout.split() == ["maxmemory-policy", "volatile-ttl"]
        assert subprocess.run(
            [*cli, "CONFIG", "GET", "appendonly"], capture_output=True, text=True, check=True
        ).stdout.split() == ["appendonly", "no"]
    finally:
        server.kill()
        server.wait(5)
