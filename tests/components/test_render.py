"""The offline render: one file per object, integers restored, secrets redacted, byte-identical."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.components.conftest import STACKS
from tools.render_manifests import (
    CLUSTER,
    PLACEHOLDER_SECRETS,
    REDACTED,
    ROOT,
    RenderError,
    clean,
    render_stack,
)


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*.yaml"))
    }


@pytest.mark.parametrize("stack", STACKS)
def test_render_is_byte_identical_across_runs(stack: str, tmp_path: Path) -> None:
    render_stack(stack, tmp_path / "first")
    render_stack(stack, tmp_path / "second")
    first, second = _tree(tmp_path / "first"), _tree(tmp_path / "second")
    assert first
    assert first == second


def test_render_cli_in_a_fresh_process_matches(tmp_path: Path) -> None:
    render_stack("prod", tmp_path / "in-process")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.render_manifests",
            "--stack",
            "prod",
            "--out",
            str(tmp_path / "cli"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert _tree(tmp_path / "in-process") == _tree(tmp_path / "cli")


@pytest.mark.parametrize("stack", STACKS)
def test_one_kubernetes_object_per_file(stack: str, tmp_path: Path) -> None:
    render_stack(stack, tmp_path)
    objects = sorted(tmp_path.glob("*.yaml"))
    assert objects
    for path in objects:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        assert len(documents) == 1, path.name
        document = documents[0]
        metadata = document["metadata"]
        parts = [document["kind"], metadata.get("namespace"), metadata["name"]]
        assert path.name == "-".join(p.lower() for p in parts if p) + ".yaml"
        assert document["apiVersion"]
    kinds = {yaml.safe_load(p.read_text(encoding="utf-8"))["kind"] for p in objects}
    assert {"Namespace", "Deployment", "Service", "Secret", "ConfigMap", "NetworkPolicy"} <= kinds


def test_integers_restored_and_secrets_redacted(tmp_path: Path) -> None:
    render_stack("prod", tmp_path)
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(tmp_path.rglob("*.yaml")))
    for secret in PLACEHOLDER_SECRETS.values():
        assert secret not in text
    secret_doc = yaml.safe_load(
        (tmp_path / "secret-agentsmcp-prod-agentsmcp-secrets.yaml").read_text()
    )
    assert secret_doc["stringData"] == {
        "ANTHROPIC_API_KEY": REDACTED,
        "JWT_SECRET_KEY": REDACTED,
        "OPENAI_API_KEY": REDACTED,
    }
    deployment = yaml.safe_load((tmp_path / "deployment-agentsmcp-prod-agentsmcp.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    assert type(pod["terminationGracePeriodSeconds"]) is int
    assert type(pod["containers"][0]["ports"][0]["containerPort"]) is int
    hpa = yaml.safe_load(
        (tmp_path / "horizontalpodautoscaler-agentsmcp-prod-agentsmcp.yaml").read_text()
    )
    assert type(hpa["spec"]["maxReplicas"]) is int
    assert not re.search(r":\s+-?\d+\.0$", text, re.MULTILINE)


def test_helm_releases_are_summaries(tmp_path: Path) -> None:
    render_stack("local", tmp_path, CLUSTER)
    summaries = sorted((tmp_path / "helm").glob("*.yaml"))
    assert [p.name for p in summaries] == [
        "ingress-nginx-ingress-nginx.yaml",
        "kube-system-metrics-server.yaml",
        "monitoring-kube-prometheus-stack.yaml",
    ]
    for path in summaries:
        summary = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(summary) == {"release", "chart", "repo", "version", "namespace", "values"}
        assert "kind" not in summary
    metrics_server = yaml.safe_load((tmp_path / "helm/kube-system-metrics-server.yaml").read_text())
    assert metrics_server["values"] == {"args": ["--kubelet-insecure-tls"]}
    app = tmp_path / "app"
    render_stack("dev", app)
    assert not (app / "helm").exists()


def test_stale_output_is_removed(tmp_path: Path) -> None:
    render_stack("staging", tmp_path)
    (tmp_path / "helm").mkdir(exist_ok=True)
    (tmp_path / "deployment-old-thing.yaml").write_text("stale")
    (tmp_path / "helm" / "old.yaml").write_text("stale")
    render_stack("staging", tmp_path)
    assert not (tmp_path / "deployment-old-thing.yaml").exists()
    assert not (tmp_path / "helm" / "old.yaml").exists()
    assert (tmp_path / "deployment-agentsmcp-staging-agentsmcp.yaml").exists()


def test_refuses_a_foreign_non_empty_directory(tmp_path: Path) -> None:
    precious = tmp_path / "Pulumi.prod.yaml"
    precious.write_text("config: {}")
    with pytest.raises(RenderError, match="not empty"):
        render_stack("prod", tmp_path)
    assert precious.read_text() == "config: {}"


def test_clean_restores_ints_and_redacts_nested_secrets() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s"}
    assert clean({"a": 3.0, "b": 2.5, "c": [1.0, secret], "d": None}) == {
        "a": 3,
        "b": 2.5,
        "c": [1, REDACTED],
    }
    secret_map = {**secret, "value": {"KEY": "s", "OTHER": "t"}}
    assert clean({"stringData": secret_map}) == {"stringData": {"KEY": REDACTED, "OTHER": REDACTED}}


def test_unknown_stack_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.render_manifests", "--stack", "nope", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "Pulumi.nope.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_program_needs_only_its_own_requirements() -> None:
    # Pulumi builds its venv from requirements.txt alone; the server's runtime must not be needed.
    probe = (
        "import sys\n"
        "from tools.render_manifests import run_program\n"
        "run_program('prod')\n"
        "server_only = {'aiohttp', 'openai', 'anthropic', 'structlog', 'prometheus_client'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & server_only))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
