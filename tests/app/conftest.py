"""Fixtures for the server tests: configs, tokens and clients on the real app factory, and the
agent front doors' clients wired to fake upstreams."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jwt
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app.config import AppConfig, parse_config
from app.server import create_app
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config

SECRET = "test-secret-that-is-long-enough-for-production-use"
ISSUER = "agentsmcp"
AUDIENCE = "agentsmcp-api"

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
Client = TestClient[web.Request, web.Application]
AgentClientFactory = Callable[..., Awaitable[Client]]


def make_config(**sections: Any) -> AppConfig:
    """A config with the test secret; keyword arguments replace or extend top-level sections."""
    data: dict[str, Any] = {"jwt_secret_key": SECRET}
    for key, value in sections.items():
        data[key] = value
    return parse_config(data)


def make_token(
    sub: str | None = "alice",
    *,
    secret: str = SECRET,
    algorithm: str = "HS256",
    ttl: float = 300,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl}
    if sub is not None:
        payload["sub"] = sub
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def echo_json(request: web.Request) -> web.Response:
    from app.request_body import read_json

    return web.json_response({"received": await read_json(request)})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("database password is hunter2 at /srv/internal/path.py")


async def whoami(request: web.Request) -> web.Response:
    from app.app_keys import SUBJECT_KEY

    return web.json_response({"subject": request.get(SUBJECT_KEY)})


def add_test_routes(app: web.Application) -> web.Application:
    """Test-only routes behind auth, to exercise bodies and errors before the agent API exists."""
    app.router.add_post("/test/echo", echo_json)
    app.router.add_get("/test/boom", boom)
    app.router.add_get("/test/whoami", whoami)
    return app


@pytest.fixture
def make_client(aiohttp_client: Any) -> ClientFactory:
    async def factory(
        config: AppConfig | None = None, *, test_routes: bool = True
    ) -> TestClient[web.Request, web.Application]:
        app = create_app(config or make_config())
        if test_routes:
            add_test_routes(app)
        client: TestClient[web.Request, web.Application] = await aiohttp_client(app)
        return client

    return factory


@pytest.fixture
def token() -> str:
    return make_token()


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
