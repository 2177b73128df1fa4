"""Processes under test: the fake upstream, the minimal proxy and our server, pinned to a CPU."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import jwt
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

OPENAI_AGENT = "bench-openai"
ANTHROPIC_AGENT = "bench-anthropic"
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
# Fake provider keys: the fakes accept anything, the shape only has to look real.
OPENAI_KEY = "sk-bench-" + "0" * 32
ANTHROPIC_KEY = "sk-ant-bench-" + "0" * 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` from /proc (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def print_failure(tool: str, exc: Exception, started: list[Process]) -> None:
    """A bench run that failed: the reason, then the end of each started process's log."""
    print(f"{tool}: FAILED: {exc}", file=sys.stderr)
    for process in started:
        print(f"--- {process.name} log tail ---\n{process.log_tail()}", file=sys.stderr)


def reset_fake(upstream: Process) -> None:
    """The fake records every request; clear it between runs so its memory stays flat."""
    url = f"{upstream.base_url}/_fake/reset"
    prepared = urllib.request.Request(url, method="POST")  # noqa: S310 (loopback http URL)
    with urllib.request.urlopen(prepared, timeout=10):  # noqa: S310
        pass


@dataclass
class Process:
    """A child process pinned with taskset, its output going to a log file."""

    name: str
    command: list[str]
    port: int
    log_path: Path
    cpu: int | str
    env: dict[str, str] = field(default_factory=dict)
    # The checkout the command runs in (``python -m app`` runs that checkout's server).
    cwd: Path = REPO_ROOT
    _popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._popen is not None, f"{self.name} is not running"
        return self._popen.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        # taskset execs the command, so the pid we hold is the server's own.
        self._popen = subprocess.Popen(
            ["taskset", "--cpu-list", str(self.cpu), *self.command],
            cwd=self.cwd,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_listening()
        except BaseException:
            # Not left running: an orphaned server would share the CPUs of every later run.
            self.stop()
            raise

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._popen is not None
            if self._popen.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self._popen.returncode} before listening:\n"
                    + self.log_tail()
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on port {self.port}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def fake_upstream(
    out_dir: Path, cpu: int, chunk_delay: float, chunks: int | None = None
) -> Process:
    """The fake upstreams; ``chunks`` text chunks per streamed answer (default: the fake's)."""
    port = free_port()
    command = [sys.executable, "-m", "tests.fakes", "--port", str(port)]
    if chunk_delay:
        command += ["--chunk-delay", str(chunk_delay)]
    if chunks is not None:
        command += ["--chunks", str(chunks)]
    return Process("fake upstream", command, port, out_dir / "upstream.log", cpu)


def minimal_proxy(out_dir: Path, cpu: int, upstream: Process) -> Process:
    port = free_port()
    command = [sys.executable, "-m", "bench.minimal_proxy", "--port", str(port)]
    command += ["--upstream", upstream.base_url]
    return Process("minimal proxy", command, port, out_dir / "minimal_proxy.log", cpu)


@dataclass(frozen=True)
class ServerSetup:
    process: Process
    token: str
    config_path: Path


def agent_server(
    out_dir: Path,
    cpu: int | str,
    upstream: Process,
    module: str = "app",
    server_settings: dict[str, Any] | None = None,
    checkout: Path = REPO_ROOT,
) -> ServerSetup:
    """Our server as production would run it: auth, rate limits, metrics and JSON logs on.
    ``cpu`` is a taskset CPU list; ``server_settings`` extends the ``server`` section."""
    port = free_port()
    jwt_secret = secrets.token_urlsafe(48)
    config: dict[str, Any] = {
        "environment": "production",
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "drain_seconds": 0,
            # Above the largest concurrency a scenario sends, unless the caller sets it.
            "max_inflight_runs": 1024,
            **(server_settings or {}),
        },
        "auth": {"enabled": True, "issuer": "agentsmcp", "audience": "agentsmcp-api"},
        # On, but far above what one load generator can reach, so every request pays for it.
        "rate_limit": {"enabled": True, "requests_per_minute": 10_000_000, "burst": 10_000_000},
        "logging": {"level": "INFO", "format": "json"},
        "metrics": {"enabled": True},
        "providers": {
            "openai": {"api_base": f"{upstream.base_url}/v1", "max_retries": 2, "timeout": 60},
            "anthropic": {"api_base": upstream.base_url, "max_retries": 2, "timeout": 60},
        },
        "agents": {
            OPENAI_AGENT: {
                "provider": "openai",
                "model": OPENAI_MODEL,
                "system_prompt": "You are a concise assistant.",
                "max_tokens": 256,
            },
            ANTHROPIC_AGENT: {
                "provider": "anthropic",
                "model": ANTHROPIC_MODEL,
                "system_prompt": "You are a concise assistant.",
                "max_tokens": 256,
            },
        },
    }
    config_path = out_dir / "agentsmcp.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    now = int(time.time())
    auth = config["auth"]
    token = jwt.encode(
        {
            "sub": "bench",
            "iss": auth["issuer"],
            "aud": auth["audience"],
            "iat": now,
            "exp": now + 6 * 3600,
        },
        jwt_secret,
        algorithm="HS256",
    )
    env = {
        "AGENTSMCP_CONFIG": str(config_path),
        "JWT_SECRET_KEY": jwt_secret,
        "OPENAI_API_KEY": OPENAI_KEY,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    process = Process(
        "agentsmcp",
        [sys.executable, "-m", module],
        port,
        out_dir / "agentsmcp.log",
        cpu,
        env,
        checkout,
    )
    return ServerSetup(process, token, config_path)
