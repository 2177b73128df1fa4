"""A2A 0.3 clients on the same endpoint, without an A2A-Version header: message/send,
message/stream, tasks/get and tasks/cancel in 0.3's JSON (kind discriminators, lowercase
states)."""

from __future__ import annotations

import asyncio

from tests.app.conftest import Client
from tests.fakes import Behavior, FakeServer

from .conftest import message, rpc, stream


async def test_message_send_and_tasks_get(client: Client, auth: dict[str, str]) -> None:
    params = {"message": message("Say hello", v1=False)}
    task = (await rpc(client, "message/send", params, auth, headers={}))["result"]
    assert task["kind"] == "task"
    assert task["status"]["state"] == "completed"
    assert task["artifacts"][0]["parts"] == [{"kind": "text", "text": "Hello, world!"}]
    assert [m["role"] for m in task["history"]] == ["user", "agent"]
    assert all(m["kind"] == "message" for m in task["history"])
    got = (await rpc(client, "tasks/get", {"id": task["id"]}, auth, headers={}))["result"]
    assert got["kind"] == "task"
    assert got["status"]["state"] == "completed"


async def test_message_stream(client: Client, auth: dict[str, str]) -> None:
    events = await stream(
        client, "message/stream", {"message": message("hi", v1=False)}, auth, headers={}
    )
    assert events[0]["kind"] == "task"
    assert [e["kind"] for e in events[1:]] == ["status-update", "artifact-update", "status-update"]
    assert events[-1]["status"]["state"] == "completed"
    assert events[-1]["final"] is True
    assert events[1]["final"] is False


async def test_tasks_cancel(client: Client, fake: FakeServer, auth: dict[str, str]) -> None:
    fake.openai.script(Behavior(chunk_delay=1.0, chunks=("slow",) * 10))
    params = {"message": message("slow", v1=False), "configuration": {"blocking": False}}
    task = (await rpc(client, "message/send", params, auth, headers={}))["result"]
    assert task["status"]["state"] == "submitted"
    await asyncio.sleep(0.2)
    canceled = await rpc(client, "tasks/cancel", {"id": task["id"]}, auth, headers={})
    assert canceled["result"]["status"]["state"] == "canceled"


async def test_a_1_0_method_without_the_header_is_still_served(
    client: Client, auth: dict[str, str]
) -> None:
    body = await rpc(client, "SendMessage", {"message": message("hi")}, auth, headers={})
    assert body["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
