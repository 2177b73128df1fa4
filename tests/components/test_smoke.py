"""The post-deploy smoke checks against the real server process on loopback."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scripts.smoke import run_checks
from tools.issue_token import issue_token

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "smoke-test-secret-" + "s" * 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "AGENTSMCP_CONFIG": str(ROOT / "config" / "agentsmcp.yaml"),
        "AGENTSMCP_PORT": str(port),
        "AGENTSMCP_LOG_FORMAT": "text",
        "JWT_SECRET_KEY": SECRET,
        "OPENAI_API_KEY": "sk-test",
        "ANTHROPIC_API_KEY": "sk-ant-test",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"server exited: {stderr}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("server did not start within 30 s")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _token(secret: str) -> str:
    return issue_token(
        secret=secret, subject="smoke", issuer="agentsmcp", audience="agentsmcp-api", ttl=60
    )


def test_every_check_passes_against_a_healthy_server(server: str) -> None:
    checks = run_checks(server, _token(SECRET))
    assert [c.name for c in checks] == [
        "GET /health",
        "GET /health/ready",
        "GET /health/live",
        "GET /metrics",
        "GET /v1/models without a token",
        "GET /v1/models with a token",
    ]
    assert all(c.passed for c in checks), [c.line() for c in checks]
    assert checks[0].line().startswith("PASS  GET /health: HTTP 200")


def test_a_token_from_the_wrong_secret_fails_the_models_check(server: str) -> None:
    checks = {c.name: c for c in run_checks(server, _token("another-secret-" + "x" * 40))}
    assert not checks["GET /v1/models with a token"].passed
    assert checks["GET /v1/models with a token"].line().startswith("FAIL")


def test_an_unreachable_server_fails_every_check() -> None:
    checks = run_checks(f"http://127.0.0.1:{_free_port()}", _token(SECRET))
    assert checks
    assert not any(c.passed for c in checks)


@pytest.mark.parametrize("context", [None, "kind-agentsmcp"])
def test_make_smoke_flow_with_a_fake_kubectl(tmp_path: Path, context: str | None) -> None:
    """The whole script: secret from "kubectl get secret", server behind "kubectl port-forward".
    With ``kubernetes.context`` in the stack file every kubectl call must name that context (the
    fake refuses calls without it, as the wrong cluster would)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    secret_b64 = base64.b64encode(SECRET.encode()).decode()
    stack_dir = tmp_path / "stacks"
    stack_dir.mkdir()
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    guard = ""
    if context is not None:
        document["config"]["agentsmcp:kubernetes"] = {"context": context}
        guard = (
            f'[[ "$1 $2" == "--context {context}" ]] || {{ echo "wrong cluster" >&2; exit 1; }}\n'
        )
    (stack_dir / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    # port-forward LOCAL:80 METRICS:9090 becomes the real server listening on LOCAL, with its
    # metrics listener on METRICS (as in the pod, where the Service maps 9090 to it).
    config = tmp_path / "agentsmcp.yaml"
    kubectl.write_text(
        "#!/usr/bin/env bash\n" + guard + 'case "$*" in\n'
        f'  *"get secret agentsmcp-secrets"*) printf %s "{secret_b64}" ;;\n'
        '  *port-forward*) http="${*: -2:1}"; metrics="${*: -1}"\n'
        '    [ "${metrics#*:}" = 9090 ] || exit 3\n'
        f'    {{ cat "$AGENTSMCP_CONFIG"; printf "metrics:\\n  port: %s\\n" "${{metrics%%:*}}"; }}'
        f' > "{config}"\n'
        f'    AGENTSMCP_CONFIG="{config}" AGENTSMCP_PORT="${{http%%:*}}"'
        f' exec "{sys.executable}" -m app ;;\n'
        "  *) exit 1 ;;\n"
        "esac\n",
        encoding="utf-8",
    )
    kubectl.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "AGENTSMCP_CONFIG": str(ROOT / "config" / "agentsmcp.yaml"),
        "AGENTSMCP_LOG_FORMAT": "text",
        "JWT_SECRET_KEY": SECRET,
        "OPENAI_API_KEY": "sk-test",
        "ANTHROPIC_API_KEY": "sk-ant-test",
    }
    result = subprocess.run(
        [sys.executable, "scripts/smoke.py", "--stack", "dev", "--stack-dir", str(stack_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PASS  port-forward: svc/agentsmcp in agentsmcp-dev")
    assert "PASS  GET /v1/models with a token: HTTP 200" in result.stdout
    assert lines[-1] == "smoke dev: 6 passed, 0 failed"


def test_smoke_reports_an_unknown_stack() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/smoke.py", "--stack", "qa"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "FAIL" in result.stdout
    assert "Traceback" not in result.stderr
