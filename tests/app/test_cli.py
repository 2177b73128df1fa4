"""``python -m app`` config errors and ``python -m tools.issue_token``, run as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from tests.app.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_config_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "server:\n  port: 99999\n  colour: blue\nauth:\n  leeway_seconds: -1\n", encoding="utf-8"
    )
    result = run(["-m", "app"], {"AGENTSMCP_CONFIG": str(config), "JWT_SECRET_KEY": SECRET})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 3
    assert any("server.port" in line for line in problems)
    assert any("server.colour: unknown key" in line for line in problems)
    assert any("auth.leeway_seconds" in line for line in problems)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AGENTSMCP_PORT": "eighty", "JWT_SECRET_KEY": SECRET}, "AGENTSMCP_PORT (server.port)"),
        ({"AGENTSMCP_LOG_FORMAT": "xml", "JWT_SECRET_KEY": SECRET}, "AGENTSMCP_LOG_FORMAT"),
        ({"AGENTSMCP_ENVIRONMENT": "production"}, "JWT_SECRET_KEY: required"),
        ({"AGENTSMCP_ENVIRONMENT": "production", "JWT_SECRET_KEY": "short"}, "at least 32 bytes"),
        ({"AGENTSMCP_CONFIG": "/nonexistent/agentsmcp.yaml"}, "cannot read"),
    ],
)
def test_invalid_environment_exits_2(env: dict[str, str], expected: str) -> None:
    result = run(["-m", "app"], env)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_disabled_auth(tmp_path: Path) -> None:
    config = tmp_path / "prod.yaml"
    config.write_text("environment: production\nauth:\n  enabled: false\n", encoding="utf-8")
    result = run(["-m", "app"], {"AGENTSMCP_CONFIG": str(config), "JWT_SECRET_KEY": SECRET})
    assert result.returncode == 2
    assert "auth.enabled: authentication cannot be disabled in production" in result.stderr


def test_token_cli_prints_a_token_the_server_accepts(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("auth:\n  issuer: me\n  audience: you\n", encoding="utf-8")
    result = run(
        ["-m", "tools.issue_token", "--sub", "ops", "--ttl", "120"],
        {"AGENTSMCP_CONFIG": str(config), "JWT_SECRET_KEY": SECRET},
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="me", audience="you")
    assert claims["sub"] == "ops"
    assert claims["exp"] - claims["iat"] == 120

    from app.auth import TokenVerifier
    from app.config import AuthSettings

    assert TokenVerifier(AuthSettings(issuer="me", audience="you"), SECRET).verify(token) == "ops"


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--sub", "ops"], {}, "JWT_SECRET_KEY"),
        (["--sub", "ops", "--ttl", "0"], {"JWT_SECRET_KEY": SECRET}, "--ttl"),
        (["--sub", "ops", "--ttl", "soon"], {"JWT_SECRET_KEY": SECRET}, "--ttl"),
        (["--sub", ""], {"JWT_SECRET_KEY": SECRET}, "--sub"),
        ([], {"JWT_SECRET_KEY": SECRET}, "--sub"),
    ],
)
def test_token_cli_rejects_bad_input(args: list[str], env: dict[str, str], expected: str) -> None:
    result = run(["-m", "tools.issue_token", *args], env)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_missing_provider_key_outside_development_exits_2() -> None:
    result = run(
        ["-m", "app"],
        {
            "AGENTSMCP_CONFIG": str(ROOT / "config" / "agentsmcp.yaml"),
            "AGENTSMCP_ENVIRONMENT": "staging",
            "JWT_SECRET_KEY": SECRET,
            "ANTHROPIC_API_KEY": "sk-ant-test",
        },
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "OPENAI_API_KEY" in result.stderr
