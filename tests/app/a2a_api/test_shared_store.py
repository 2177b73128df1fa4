"""A2A tasks in the shared store (``rate_limit.backend: redis``) on a real redis-server: two apps
share tasks and conversations, keys expire and hold no subject, each subject's index is trimmed,
and an unreachable store is a JSON-RPC error with 503, never a 500."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from app.server import create_app
from tests.app.conftest import bearer, make_token
from tests.fakes import FakeServer
from tests.fakes.appconfig import agent_config
from tests.redis_server import RedisServer

from .conftest import message, rpc

Client = TestClient[web.Request, web.Application]
AUTH = bearer(make_token())


async def start(aiohttp_client: Any, fake: FakeServer, redis: RedisServer) -> Client:
    config = agent_config(
        fake,
        rate_limit={"enabled": True, "backend": "redis", "requests_per_minute": 6000},
        a2a={"task_ttl_seconds": 600, "max_tasks_per_subject": 3},
        redis_url=redis.url,
        redis_password=redis.password,
    )
    client: Client = await aiohttp_client(create_app(config))
    return client


async def test_two_apps_share_tasks_and_conversations(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    one = await start(aiohttp_client, fake, redis_server)
    other = await start(aiohttp_client, fake, redis_server)
    first = (await rpc(one, "SendMessage", {"message": message("My name is Ada")}, AUTH))["result"]
    task_id, context_id = first["task"]["id"], first["task"]["contextId"]
    got = (await rpc(other, "GetTask", {"id": task_id}, AUTH))["result"]
    assert got["status"]["state"] == "TASK_STATE_COMPLETED"
    follow_up = message("And my name?", context_id=context_id)
    await rpc(other, "SendMessage", {"message": follow_up}, AUTH)
    assert "My name is Ada" in str(fake.openai.requests[-1]["messages"])
    keys = redis_server.command("KEYS", "*a2a:*").split()
    assert any(task_id in key for key in keys)
    assert not any("alice" in key for key in keys)  # a digest of the subject, never the subject
    for key in keys:
        assert 0 < int(redis_server.command("TTL", key)) <= 600


async def test_a_subjects_index_is_trimmed(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    client = await start(aiohttp_client, fake, redis_server)
    sent = [
        (await rpc(client, "SendMessage", {"message": message(f"n{i}")}, AUTH))["result"]["task"]
        for i in range(5)
    ]
    listed = (await rpc(client, "ListTasks", {}, AUTH))["result"]
    assert [task["id"] for task in listed["tasks"]] == [task["id"] for task in sent[:1:-1]]


async def test_unreachable_store_is_a_503_jsonrpc_error(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    client = await start(aiohttp_client, fake, redis_server)
    redis_server.kill()
    for method, params in (("SendMessage", {"message": message("hi")}), ("GetTask", {"id": "x"})):
        body = await rpc(client, method, params, AUTH, status=503)
        assert body["error"]["data"]["code"] == "task_store_unavailable"
