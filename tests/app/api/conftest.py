"""Fixtures for the agent API: fake upstreams, and our app wired to them through the factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app.config import AppConfig
from app.server import create_app
from tests.app.conftest import make_token
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config

Client = TestClient[web.Request, web.Application]
AgentClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
def make_agent_client(aiohttp_client: Any, fake: FakeServer) -> AgentClientFactory:
    async def factory(config: AppConfig | None = None, **overrides: Any) -> Client:
        app = create_app(config or agent_config(fake, **overrides))
        client: Client = await aiohttp_client(app)
        return client

    return factory


@pytest.fixture
async def client(make_agent_client: AgentClientFactory) -> Client:
    return await make_agent_client()


@pytest.fixture
async def sdk(client: Client) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official OpenAI SDK pointed at our server."""
    sdk = openai.AsyncOpenAI(
        api_key=make_token(), base_url=str(client.make_url("/v1")), max_retries=0
    )
    yield sdk
    await sdk.close()
