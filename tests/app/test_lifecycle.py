"""The SIGTERM/SIGINT sequence, on real server processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.app.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    def __init__(self, module: str, tmp_path: Path, **server: float) -> None:
        self.port = free_port()
        config = tmp_path / "server.yaml"
        settings = "\n".join(f"  {key}: {value}" for key, value in server.items())
        config.write_text(
            f"server:\n  host: 127.0.0.1\n  port: {self.port}\n{settings}\n"
            "auth:\n  public_paths: [/health, /health/ready, /health/live, /slow, /stream]\n"
            "rate_limit:\n  enabled: false\n",
            encoding="utf-8",
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "AGENTSMCP_CONFIG": str(config),
            "AGENTSMCP_LOG_FORMAT": "json",
            "JWT_SECRET_KEY": SECRET,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.process.communicate()
                try:
                    async with session.get(f"{self.url}/health/ready") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("server did not become ready")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout: float = 30) -> tuple[int, list[dict[str, object]], str]:
        stdout, stderr = self.process.communicate(timeout=timeout)
        events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        return self.process.returncode, events, stderr

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


async def refuses_connections_within(server: ServerProcess, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            async with aiohttp.ClientSession() as fresh, fresh.get(f"{server.url}/health/live"):
                pass
        except aiohttp.ClientConnectionError:
            return True
        await asyncio.sleep(0.1)
    return False


def messages(events: list[dict[str, object]]) -> list[str]:
    return [str(event["event"]) for event in events]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_drains_then_finishes_in_flight_requests_and_exits_0(
    tmp_path: Path, servers: list[ServerProcess], signum: int
) -> None:
    server = ServerProcess(
        "tests.app.slow_server", tmp_path, drain_seconds=2.5, shutdown_timeout_seconds=20
    )
    servers.append(server)
    await server.wait_ready()
    async with aiohttp.ClientSession() as session:
        # Long enough to still be in flight after the drain on a loaded machine.
        slow = asyncio.create_task(session.get(f"{server.url}/slow?seconds=12"))
        await asyncio.sleep(0.3)
        server.signal(signum)
        await asyncio.sleep(0.2)

        # Phase 1: readiness is 503 but the server still serves new connections.
        async with aiohttp.ClientSession() as fresh:
            async with fresh.get(f"{server.url}/health/ready") as response:
                assert response.status == 503
                assert await response.json() == {"status": "not_ready", "reason": "draining"}
            async with fresh.get(f"{server.url}/health/live") as response:
                assert response.status == 200
                assert response.headers["Connection"] == "close"

        # Phase 2: after the drain period, no new connections are accepted...
        assert await refuses_connections_within(server, seconds=5)
        # ...while the slow request is still in flight.
        assert not slow.done()

        # The request that was in flight all along still completes normally.
        response = await slow
        assert response.status == 200
        assert await response.json() == {"slow": "done"}
        response.release()

    code, events, stderr = await asyncio.to_thread(server.finish)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    phases = messages(events)
    for phase in (
        "server started",
        "shutdown requested",
        "draining: readiness is 503, still serving",
        "stopped accepting connections",
        "in-flight requests finished",
        "server stopped",
    ):
        assert phase in phases, phases
    assert phases.index("shutdown requested") < phases.index("in-flight requests finished")
    slow_log = [e for e in events if e.get("event") == "request" and e.get("path") == "/slow"]
    assert slow_log[0]["status"] == 200


async def test_streams_get_the_deadline_event_when_shutdown_times_out(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    server = ServerProcess(
        "tests.app.slow_server", tmp_path, drain_seconds=0, shutdown_timeout_seconds=1
    )
    servers.append(server)
    await server.wait_ready()
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/stream") as response:
        assert response.status == 200
        first = await response.content.readline()
        assert first == b"data: started\n"
        server.signal(signal.SIGTERM)
        body = (await response.content.read()).decode()
    assert body.rstrip().endswith('data: {"error": "server shutting down"}')
    code, events, stderr = await asyncio.to_thread(server.finish)
    assert code == 0, stderr
    assert "shutdown timeout expired: cancelling the remaining requests" in messages(events)


async def test_python_m_app_serves_and_exits_0_on_sigterm(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    server = ServerProcess("app", tmp_path, drain_seconds=0, shutdown_timeout_seconds=5)
    servers.append(server)
    await server.wait_ready()
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/health") as response:
        assert response.status == 200
    server.signal(signal.SIGTERM)
    code, events, stderr = await asyncio.to_thread(server.finish)
    assert code == 0, stderr
    assert stderr == ""
    assert "server stopped" in messages(events)
    started = next(event for event in events if event["event"] == "server started")
    # Startup objects are frozen out of the cyclic GC (full collections paused serving otherwise).
    assert started["gc_frozen_objects"] > 10_000


async def test_port_in_use_is_a_clear_error(tmp_path: Path, servers: list[ServerProcess]) -> None:
    first = ServerProcess("app", tmp_path, drain_seconds=0)
    servers.append(first)
    await first.wait_ready()
    # A second server with the same config (same port) cannot bind.
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "AGENTSMCP_CONFIG": str(tmp_path / "server.yaml"),
            "JWT_SECRET_KEY": SECRET,
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{first.port}" in result.stderr
    assert "Traceback" not in result.stderr


async def test_connections_queue_while_the_loop_is_busy(
    tmp_path: Path, servers: list[ServerProcess]
) -> None:
    # A stopped process stands for a busy event loop: the kernel completes handshakes up to
    # the listen backlog; beyond it, SYNs are dropped and a client waits for a retransmit.
    server = ServerProcess("app", tmp_path, drain_seconds=0, shutdown_timeout_seconds=5)
    servers.append(server)
    await server.wait_ready()
    wanted = 600
    server.signal(signal.SIGSTOP)
    sockets: list[socket.socket] = []
    try:
        for _ in range(wanted):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", server.port))
            sockets.append(sock)
        await asyncio.sleep(0.5)
        connected = sum(
            1
            for sock in sockets
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and _established(sock)
        )
    finally:
        server.signal(signal.SIGCONT)
        for sock in sockets:
            sock.close()
    assert connected == wanted


def _established(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True
