"""The metric names the agent server really exposes: start ``python -m app`` on loopback, send
a few requests so labelled series exist, and scrape ``/metrics``."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_SECONDS = 30.0
STOP_SECONDS = 30.0
# Series that Prometheus itself adds to every scraped target, never exposed by the server.
PROMETHEUS_SYNTHETIC = frozenset(
    {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
)
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
}
# Requests that make the HTTP metrics grow labelled series (200s, a 404, an unauthenticated 401).
EXERCISE_PATHS = ("/health", "/health/ready", "/health/live", "/no-such-route", "/v1/models")


class ServerError(RuntimeError):
    """The server did not start or did not serve /metrics."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback URL
            return int(response.status), response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode("utf-8", "replace")


def scrape_server(root: Path, python: Path, config: Path) -> str:
    """Run the real server from ``root`` with ``python`` and return its /metrics text."""
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only a fallback for HOME
        "AGENTSMCP_CONFIG": str(config),
        "AGENTSMCP_HOST": "127.0.0.1",
        "AGENTSMCP_PORT": str(port),
        "AGENTSMCP_LOG_LEVEL": "WARNING",
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "OPENAI_API_KEY": "sk-validation-not-a-real-key",
        "ANTHROPIC_API_KEY": "sk-ant-validation-not-a-real-key",
    }
    base = f"http://127.0.0.1:{port}"
    try:
        server = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [str(python), "-m", "app"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as error:
        raise ServerError(f"cannot start {python} -m app: {error} (run `make venv`)") from error
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                stderr = server.stderr.read() if server.stderr else ""
                raise ServerError(f"`python -m app` exited {server.returncode}: {stderr.strip()}")
            try:
                if _get(f"{base}/health/live")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"`python -m app` did not answer {base}/health/live in time")
            time.sleep(0.2)
        for path in EXERCISE_PATHS:
            _get(base + path)
        status, body = _get(f"{base}/metrics")
        if status != 200:
            raise ServerError(f"GET /metrics answered {status}")
        return body
    finally:
        server.terminate()
        try:
            server.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()


def exposed_names(exposition: str) -> set[str]:
    """Every series name a Prometheus scrape of this text can produce."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) < 4:
                continue
            family, kind = parts[2], parts[3]
            names.add(family)
            base = family.removesuffix("_total") if kind == "counter" else family
            names.update(base + suffix for suffix in SAMPLE_SUFFIXES.get(kind, ()))
        elif line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names
