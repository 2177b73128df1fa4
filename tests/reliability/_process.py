"""The server and the fake upstreams as real processes, as Kubernetes runs them: ``python -m app``
with a config file and secrets in the environment, logs captured to files."""

from __future__ import annotations

import contextlib
import json
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
from typing import Any

import yaml

from tests.fakes.appconfig import ANTHROPIC_KEY, DEFAULT_AGENTS, JWT_SECRET, OPENAI_KEY

ROOT = Path(__file__).resolve().parents[2]
SECRETS = (JWT_SECRET, OPENAI_KEY, ANTHROPIC_KEY)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra or {})
    return env


def get(url: str, *, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(predicate: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if predicate():
                return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Process:
    """A child process whose stdout and stderr go to files under ``logs``."""

    def __init__(self, args: list[str], logs: Path, name: str, env: dict[str, str]) -> None:
        self.stdout_path = logs / f"{name}.out"
        self.stderr_path = logs / f"{name}.err"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=err
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(
            errors="replace"
        )

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def signal(self, signum: signal.Signals) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


@contextlib.contextmanager
def fake_upstreams(logs: Path, *, chunk_delay: float = 0.0) -> Iterator[str]:
    """``python -m tests.fakes``; yields its base URL (control API under ``/_fake``)."""
    port = free_port()
    process = Process(
        ["-m", "tests.fakes", "--port", str(port), "--chunk-delay", str(chunk_delay)],
        logs,
        "fakes",
        _env(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get(f"{base}/_fake/stats")[0] == 200, timeout=20, what="fake upstreams")
        yield base
    finally:
        process.stop()


def fake_control(base: str, method: str, path: str, data: Any) -> None:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        base + path,
        data=json.dumps(data).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        assert response.status == 200


def stream_slowly(fakes: str, chunks: list[str], chunk_delay: float) -> None:
    """Both fake providers answer every request with ``chunks``, ``chunk_delay`` s apart."""
    for provider in ("openai", "anthropic"):
        fake_control(
            fakes,
            "PUT",
            f"/_fake/{provider}/default",
            {"chunks": chunks, "chunk_delay": chunk_delay},
        )


def server_config(fakes: str, **sections: Any) -> dict[str, Any]:
    """The YAML config of a server whose providers are the fakes at ``fakes``."""
    config: dict[str, Any] = {
        "environment": "development",
        "server": {"host": "127.0.0.1", "drain_seconds": 0, "shutdown_timeout_seconds": 5},
        "logging": {"level": "INFO", "format": "json"},
        "rate_limit": {"enabled": False},
        "agents": DEFAULT_AGENTS,
        "providers": {
            "openai": {"api_base": f"{fakes}/v1", "max_retries": 1, "timeout": 10},
            "anthropic": {"api_base": fakes, "max_retries": 1, "timeout": 10},
        },
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


class ServerProcess(Process):
    def __init__(
        self, config: dict[str, Any], logs: Path, *, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        config = {**config, "server": {**config.get("server", {}), "port": self.port}}
        path = logs / "agentsmcp.yaml"
        path.write_text(yaml.safe_dump(config))
        process_env = _env(
            {
                "AGENTSMCP_CONFIG": str(path),
                "JWT_SECRET_KEY": JWT_SECRET,
                "OPENAI_API_KEY": OPENAI_KEY,
                "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                **(env or {}),
            }
        )
        super().__init__(["-m", "app"], logs, "server", process_env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.popen.poll() is not None:
                raise RuntimeError(f"server exited {self.popen.returncode}:\n{self.output()}")
            return get(f"{self.url}/health/ready")[0] == 200

        wait_until(ready, timeout=timeout, what="the server to be ready")


@contextlib.contextmanager
def running_server(config: dict[str, Any], logs: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(config, logs)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def replicas(
    config: dict[str, Any], logs: Path, env: dict[str, str], count: int = 2
) -> Iterator[list[ServerProcess]]:
    """``count`` ready server processes with one configuration (sharing a store through
    ``env``), stopped at the end."""
    servers: list[ServerProcess] = []
    try:
        for index in range(count):
            directory = logs / f"server{index}"
            directory.mkdir()
            servers.append(ServerProcess(config, directory, env=env))
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
