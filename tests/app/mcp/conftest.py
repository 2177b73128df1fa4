"""The real server (app factory, plain AppRunner as in production: no aiohttp handler
cancellation) on a loopback port, its agents on the strict fake upstreams (tests/fakes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from app.config import AppConfig
from app.server import create_app
from tests.app.conftest import make_token
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config

# Short intervals keep the tests fast; the defaults are checked in test_config.
PROGRESS_INTERVAL = 0.1
KEEPALIVE = 0.1
ACCEPT_BOTH = "application/json, text/event-stream"


@dataclass
class Server:
    url: str
    app: web.Application

    @property
    def mcp(self) -> str:
        return self.url + "/mcp"


ServerFactory = Callable[..., Awaitable[Server]]


def mcp_config(fake: FakeServer, **sections: Any) -> AppConfig:
    sections.setdefault(
        "mcp", {"progress_interval_seconds": PROGRESS_INTERVAL, "keepalive_seconds": KEEPALIVE}
    )
    return agent_config(fake, **sections)


@pytest.fixture
async def start_server(fake: FakeServer) -> AsyncIterator[ServerFactory]:
    runners: list[web.AppRunner] = []

    async def start(config: AppConfig | None = None, **sections: Any) -> Server:
        app = create_app(config or mcp_config(fake, **sections))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return Server(f"http://{host}:{port}", app)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def server(start_server: ServerFactory) -> Server:
    return await start_server()


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {within} s")


@asynccontextmanager
async def mcp_session(url: str, token: str | None = None) -> AsyncIterator[ClientSession]:
    """The official mcp 1.x client (streamable_http_client + ClientSession), initialized."""
    headers = {"Authorization": f"Bearer {token or make_token()}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as (read, write, _session_id),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
