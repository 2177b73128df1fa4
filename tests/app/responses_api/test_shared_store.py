"""Stored responses in the shared store (``rate_limit.backend: redis``) on a real redis-server:
two apps share them, records expire, and an unreachable store is a 503 for what needs it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from app.responses_api._store import TTL_SECONDS
from app.server import create_app
from tests.app.conftest import bearer, make_token
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config
from tests.redis_server import RedisServer

Client = TestClient[web.Request, web.Application]
AUTH = bearer(make_token())


async def start(aiohttp_client: Any, fake: FakeServer, redis: RedisServer) -> Client:
    config = agent_config(
        fake,
        rate_limit={"enabled": True, "backend": "redis", "requests_per_minute": 6000},
        redis_url=redis.url,
        redis_password=redis.password,
    )
    client: Client = await aiohttp_client(create_app(config))
    return client


async def test_two_apps_share_stored_responses(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    one = await start(aiohttp_client, fake, redis_server)
    other = await start(aiohttp_client, fake, redis_server)
    created = await one.post("/v1/responses", json={"model": "coding", "input": "hi"}, headers=AUTH)
    response_id = (await created.json())["id"]
    fetched = await other.get(f"/v1/responses/{response_id}", headers=AUTH)
    assert fetched.status == 200
    assert (await fetched.json())["id"] == response_id
    [key] = redis_server.command("KEYS", "*responses:*").split()
    assert response_id in key
    assert "alice" not in key  # a digest of the subject, never the subject
    assert 0 < int(redis_server.command("TTL", key)) <= TTL_SECONDS


async def test_unreachable_store_is_503_but_creating_still_answers(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    client = await start(aiohttp_client, fake, redis_server)
    redis_server.kill()
    created = await client.post(
        "/v1/responses", json={"model": "coding", "input": "hi"}, headers=AUTH
    )
    assert created.status == 200
    for method in ("GET", "DELETE"):
        answer = await client.request(method, "/v1/responses/resp_x", headers=AUTH)
        assert answer.status == 503
        assert (await answer.json())["error"]["code"] == "response_store_unavailable"
