"""A2A tasks in the shared store (``rate_limit.backend: redis``) on a real redis-server: two apps
share tasks and conversations, keys expire and hold no subject, each subject's index is trimmed,
and an unreachable store is a JSON-RPC error with 503, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app.a2a_api import A2A_KEY
from app.a2a_api._store import MemoryTaskStore, RedisTaskStore, TaskStore
from app.a2a_api._wire import Task, Turn, new_id, now_iso
from app.config import A2aSettings
from app.limits._redis import connect
from app.server import create_app
from tests.app.conftest import bearer, make_token
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import agent_config
from tests.redis_server import RedisServer, running_redis

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


@pytest.fixture(params=["memory", "redis"])
async def any_store(request: Any, tmp_path: Path) -> AsyncIterator[TaskStore]:
    settings = A2aSettings(task_ttl_seconds=600)
    if request.param == "memory":
        yield MemoryTaskStore(settings)
        return
    with running_redis(tmp_path) as server:
        client = connect(server.url, server.password, timeout=2.0)
        store = RedisTaskStore(client, "t:", settings, timeout=2.0)
        yield store
        await store.aclose()


async def test_a_final_state_is_never_overwritten(any_store: TaskStore) -> None:
    working = Task(new_id(), "c", "coding", "working", now_iso(), (Turn("user", "x", "m"),))
    assert await any_store.save("alice", working) is working
    completed = working.moved("completed")
    assert await any_store.save("alice", completed) is completed
    # A cancel on another replica that loaded the task before it completed, and a step update
    # that arrives late: both find the final state, keep it and get it back.
    assert await any_store.save("alice", working.moved("canceled")) == completed
    assert await any_store.save("alice", working.moved("working", "step 2")) == completed
    assert await any_store.load("alice", working.id) == completed
    assert [task.id for task in await any_store.tasks("alice")] == [working.id]


Step = Callable[[TaskStore, str, Task], Awaitable[None]]


async def slow_task_on_one_of_two(
    aiohttp_client: Any, fake: FakeServer, redis: RedisServer, delay: float, chunks: int
) -> tuple[Client, Client, str]:
    """Two apps sharing ``redis``; a task running on the first, streaming ``chunks`` chunks
    ``delay`` seconds apart: the apps and the task's id."""
    one = await start(aiohttp_client, fake, redis)
    other = await start(aiohttp_client, fake, redis)
    fake.openai.script(Behavior(chunk_delay=delay, chunks=("slow",) * chunks))
    params = {"message": message("slow"), "configuration": {"returnImmediately": True}}
    task_id = (await rpc(one, "SendMessage", params, AUTH))["result"]["task"]["id"]
    return one, other, task_id


async def cancel_with_a_step_between(client: Client, task_id: str, step: Step) -> Any:
    """CancelTask on ``client``, with ``step(store, subject, task as read)`` run between the
    cancel's read of the task and its save: the answer."""
    store = client.app[A2A_KEY].service.store  # type: ignore[union-attr]
    read = store.load

    async def read_then_step(subject: str, wanted: str) -> Task | None:
        store.load = read  # type: ignore[method-assign]
        stale = await read(subject, wanted)
        assert stale is not None
        await step(store, subject, stale)
        return stale

    store.load = read_then_step  # type: ignore[method-assign]
    try:
        return await rpc(client, "CancelTask", {"id": task_id}, AUTH)
    finally:
        store.load = read  # type: ignore[method-assign]


async def test_a_cancel_that_loses_the_race_with_the_end_says_so(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    """CancelTask on the replica that does not run the task, which finishes on the other one
    between the cancel's read and its write: before, the cancel answered CANCELED and overwrote
    the answer (the last write won); now the answer stays and the cancel is refused."""
    one, other, task_id = await slow_task_on_one_of_two(aiohttp_client, fake, redis_server, 0.2, 3)

    async def wait_for_the_end(store: TaskStore, subject: str, stale: Task) -> None:
        for _ in range(100):
            current = await store.load(subject, stale.id)
            if current is not None and current.terminal:
                return
            await asyncio.sleep(0.05)

    refused = await cancel_with_a_step_between(other, task_id, wait_for_the_end)
    assert refused["error"]["code"] == -32002
    assert "already completed" in refused["error"]["message"]
    for client in (one, other):
        got = (await rpc(client, "GetTask", {"id": task_id}, AUTH))["result"]
        assert got["status"]["state"] == "TASK_STATE_COMPLETED"
        assert got["artifacts"][0]["parts"][0]["text"] == "slow" * 3


async def test_a_cancel_the_running_replica_saved_first_is_answered_canceled(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    """The replica running the task stops it on the relayed cancel and saves it canceled before
    the replica that took the CancelTask saves it: the caller still gets the canceled task."""
    _, other, task_id = await slow_task_on_one_of_two(aiohttp_client, fake, redis_server, 0.5, 10)

    async def cancel_first(store: TaskStore, subject: str, stale: Task) -> None:
        await store.save(subject, stale.moved("canceled", "The task was canceled."))

    answer = await cancel_with_a_step_between(other, task_id, cancel_first)
    assert answer["result"]["status"]["state"] == "TASK_STATE_CANCELED"
