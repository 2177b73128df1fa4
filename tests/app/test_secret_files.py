"""Secrets as files (``*_FILE``, ``AGENTSMCP_SECRETS_DIR``) and rotation under a running server.

The rotation tests lay the directory out as the kubelet does for a Secret volume (each key a
symlink into ``..data``, which is swapped atomically to a new timestamped directory) and run the
real ``python -m app`` against it.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from app.config import ConfigError, load_config
from app.secret_files import RotatingSecret
from tests.app.conftest import make_token
from tests.fakes.kubelet import publish
from tests.reliability._process import Process, _env, free_port, get, wait_until

KEY_A = "rotation-key-a-" + "a" * 40
KEY_B = "rotation-key-b-" + "b" * 40


def test_values_come_from_file_variables_and_the_directory(tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text(KEY_A + "\n")
    secrets = tmp_path / "secrets"
    publish(secrets, {"OPENAI_API_KEY": "sk-from-dir", "ANTHROPIC_API_KEY": "sk-ant-dir"})
    config = load_config(
        {
            "JWT_SECRET_KEY_FILE": str(tmp_path / "jwt"),
            "AGENTSMCP_SECRETS_DIR": str(secrets),
            "ANTHROPIC_API_KEY": "sk-ant-env",
        }
    )
    assert config.jwt_secret_key is not None
    assert config.jwt_secret_key.get_secret_value() == KEY_A  # trailing newline dropped
    assert config.provider_key("openai") == "sk-from-dir"
    assert config.provider_key("anthropic") == "sk-ant-env"  # the variable wins over the dir
    assert config.jwt_previous_secret_key is None
    assert config.secret_files == {
        "JWT_SECRET_KEY": str(tmp_path / "jwt"),
        "JWT_PREVIOUS_SECRET_KEY": str(secrets / "JWT_PREVIOUS_SECRET_KEY"),
        "OPENAI_API_KEY": str(secrets / "OPENAI_API_KEY"),
        "REDIS_URL": str(secrets / "REDIS_URL"),
        "REDIS_PASSWORD": str(secrets / "REDIS_PASSWORD"),
    }


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        (
            {"JWT_SECRET_KEY": "x" * 40, "JWT_SECRET_KEY_FILE": "/etc/hostname"},
            "JWT_SECRET_KEY_FILE: set either JWT_SECRET_KEY or JWT_SECRET_KEY_FILE, not both",
        ),
        (
            {"JWT_SECRET_KEY_FILE": "/nonexistent/jwt"},
            "JWT_SECRET_KEY: cannot read /nonexistent/jwt: no such file",
        ),
    ],
)
def test_file_mistakes_are_one_line_each(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ)
    assert caught.value.problems == [problem]


def test_rotating_secret_rereads_only_after_its_interval(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "key"
    path.write_text("one")
    secret = RotatingSecret(str(path), "one", 10, clock=lambda: now[0])
    path.write_text("two")
    now[0] = 9.9
    assert secret.value() == "one"
    now[0] = 10.0
    assert secret.value() == "two"
    path.unlink()
    now[0] = 20.0
    assert secret.value() is None


def _status(base: str, token: str) -> int:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{base}/v1/models", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_jwt_key_rotation_under_a_running_server(tmp_path: Path) -> None:
    """Current key A; rotate to B with A as previous (both accepted, no restart); end the
    window (A refused); an unusable new current key is ignored."""
    secrets = tmp_path / "secrets"
    publish(secrets, {"JWT_SECRET_KEY": KEY_A})
    port = free_port()
    config = tmp_path / "agentsmcp.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "environment": "production",
                "server": {"host": "127.0.0.1", "port": port, "secrets_refresh_seconds": 1},
                "rate_limit": {"enabled": False},
            }
        )
    )
    env = _env({"AGENTSMCP_CONFIG": str(config), "AGENTSMCP_SECRETS_DIR": str(secrets)})
    server = Process(["-m", "app"], tmp_path, "server", env)
    base = f"http://127.0.0.1:{port}"
    token_a, token_b = make_token(secret=KEY_A), make_token(secret=KEY_B)
    try:
        wait_until(lambda: get(f"{base}/health/ready")[0] == 200, timeout=30, what="ready")
        pid = server.pid
        assert _status(base, token_a) == 200
        assert _status(base, token_b) == 401

        publish(secrets, {"JWT_SECRET_KEY": KEY_B, "JWT_PREVIOUS_SECRET_KEY": KEY_A})
        wait_until(lambda: _status(base, token_b) == 200, timeout=10, what="key B accepted")
        assert _status(base, token_a) == 200  # the previous key, during the window

        publish(secrets, {"JWT_SECRET_KEY": KEY_B})
        wait_until(lambda: _status(base, token_a) == 401, timeout=10, what="key A retired")
        assert _status(base, token_b) == 200

        # Production refuses keys under 32 bytes: a short new key is ignored, B stays.
        publish(secrets, {"JWT_SECRET_KEY": "short"})
        time.sleep(2.5)
        assert _status(base, token_b) == 200
        assert _status(base, make_token(secret="short")) == 401
        assert server.popen.poll() is None
        assert server.pid == pid
    finally:
        server.stop()
    assert "ignoring an unusable JWT_SECRET_KEY" in server.output()


def test_the_previous_jwt_key_is_redacted_from_logs(tmp_path: Path) -> None:
    import io
    import logging

    import structlog

    from app.config import parse_config
    from app.observability.logging import configure_logging

    previous = "previous-plain-value-" + "q" * 20
    config = parse_config({"jwt_secret_key": KEY_A, "jwt_previous_secret_key": previous})
    stream = io.StringIO()
    try:
        configure_logging(config, stream=stream)
        structlog.get_logger("t").info(f"leaked {previous} here")
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert previous not in stream.getvalue()
    assert "leaked" in stream.getvalue()
