"""The post-deploy smoke checks against the real server process on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.token import issue_token
from scripts.smoke import run_checks

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
