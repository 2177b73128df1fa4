"""``metrics.port``: /metrics on a second listener of the real ``python -m app`` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def _env(tmp_path: Path, port: int, metrics_port: int) -> dict[str, str]:
    config = tmp_path / "agentsmcp.yaml"
    config.write_text(f"metrics:\n  port: {metrics_port}\n", encoding="utf-8")
    return {
        "AGENTSMCP_CONFIG": str(config),
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "AGENTSMCP_HOST": "127.0.0.1",
        "AGENTSMCP_PORT": str(port),
        "AGENTSMCP_LOG_LEVEL": "WARNING",
        "JWT_SECRET_KEY": SECRET,
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    port, metrics_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=_env(tmp_path, port, metrics_port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base, metrics = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if _get(base + "/health/ready")[0] == 200 and _get(metrics + "/metrics")[0]:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base, metrics, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_metrics_only_on_the_metrics_port(server: tuple[str, str, subprocess.Popen[str]]) -> None:
    base, metrics, _ = server
    status, _ = _get(base + "/metrics")
    assert status == 404
    for _ in range(3):
        status, text = _get(metrics + "/metrics")
        assert status == 200
    assert 'http_requests_total{method="GET",route="/health/ready",status="200"}' in text
    # Scrapes are not API traffic: no series for them, and the listener serves nothing else.
    assert 'route="/metrics"' not in text
    assert _get(metrics + "/health")[0] == 404
    assert _get(metrics + "/v1/models")[0] == 404


def test_metrics_listener_stops_with_the_server(
    server: tuple[str, str, subprocess.Popen[str]],
) -> None:
    _, metrics, process = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        _get(metrics + "/metrics")


def test_busy_metrics_port_names_it(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = int(busy.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "app"],
            cwd=ROOT,
            env=_env(tmp_path, _free_port(), taken),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{taken}" in result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_port_equal_to_server_port_is_a_config_error(tmp_path: Path) -> None:
    port = _free_port()
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=_env(tmp_path, port, port),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"metrics.port: must differ from server.port ({port})" in result.stderr
