"""Real MCP tool servers for the agent loop tests, and our server wired to them and to the
strict fake LLM upstreams.

- ``tool_server``: FastMCP (the official SDK's server) in a subprocess on a loopback port, with a
  calculator, a slow tool, a failing tool, a tool with a strict schema and a big answer; it
  refuses requests without the bearer token.
- ``garbage_server``: a TCP server that answers every connection with bytes that are not HTTP.
- ``not_mcp_server``: an HTTP server that answers 200 with a JSON body that is not JSON-RPC.
- ``closed_port``: nothing listens there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app.config import AppConfig
from app.server import create_app
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config

ROOT = Path(__file__).resolve().parents[3]
TOOL_TOKEN = "tool-server-token-5f0c2a9e71d34b8c"
TOKEN_ENV = "TOOL_SERVER_CALC_TOKEN"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ToolProcess:
    url: str
    process: subprocess.Popen[bytes]
    # Lines "cancelled <seconds>" for each slow call the server saw cancelled.
    cancel_log: Path

    def cancelled(self) -> list[str]:
        if not self.cancel_log.exists():
            return []
        return self.cancel_log.read_text(encoding="utf-8").split()

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` (killed after 10 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_tool_server() -> ToolProcess:
    port = free_port()
    cancel_log = Path(tempfile.mkdtemp(prefix="agentsmcp-tools-")) / "cancelled"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.app.tools.tool_server", str(port), TOOL_TOKEN],
        cwd=ROOT,
        env={**os.environ, "TEST_TOOL_CANCEL_LOG": str(cancel_log)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = ToolProcess(f"http://127.0.0.1:{port}/mcp", process, cancel_log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the test tool server exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("the test tool server did not start within 30 s")


@pytest.fixture(scope="session")
def tool_server() -> Iterator[ToolProcess]:
    server = start_tool_server()
    yield server
    server.stop()


@pytest.fixture
async def garbage_server() -> AsyncIterator[str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.read(65536)
            writer.write(b"\x00\xffSSH-2.0-OpenSSH_9.6 garbage \x16\x03\x01 not http\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/mcp"
    server.close()
    await server.wait_closed()


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and reads, never answers."""
    connections: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/mcp"
    for writer in connections:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
async def not_mcp_server() -> AsyncIterator[str]:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            text='{"hello": "this is not JSON-RPC"}', content_type="application/json"
        )

    app = web.Application()
    app.router.add_route("*", "/mcp", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/mcp"
    await runner.cleanup()


@pytest.fixture
def closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}/mcp"


def tools_agent(provider: str, servers: list[str], **settings: Any) -> dict[str, Any]:
    model = "gpt-4o" if provider == "openai" else "claude-sonnet-5-5"
    return {
        "type": "tools",
        "provider": provider,
        "model": model,
        "system_prompt": "Use the tools.",
        "timeout": 20,
        "max_tokens": 256,
        "tool_servers": servers,
        **settings,
    }


def tools_config(
    fake: FakeServer,
    servers: dict[str, dict[str, Any]],
    agents: dict[str, dict[str, Any]],
    **sections: Any,
) -> AppConfig:
    sections.setdefault("tool_server_tokens", {TOKEN_ENV: TOOL_TOKEN})
    return agent_config(fake, agents=agents, tool_servers=servers, **sections)


def calc_server(tool_server: ToolProcess, **settings: Any) -> dict[str, Any]:
    return {"url": tool_server.url, "auth": "bearer", "timeout_seconds": 10, **settings}


@dataclass
class Running:
    url: str
    app: web.Application
    http: aiohttp.ClientSession

    async def ready(self) -> int:
        async with self.http.get(self.url + "/health/ready") as response:
            return response.status


StartServer = Callable[[AppConfig], Awaitable[Running]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(config: AppConfig) -> Running:
        app = create_app(config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        http = aiohttp.ClientSession()
        sessions.append(http)
        return Running(f"http://{host}:{port}", app, http)

    yield start
    for session in sessions:
        await session.close()
    for runner in reversed(runners):
        await runner.cleanup()
