"""A2A 1.0 over JSON-RPC: tasks that run the agent, streamed or not, read, listed, cancelled, a
conversation through contextId, failures as failed tasks, and the protocol's errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.a2a_api import A2A_KEY
from tests.app.conftest import AgentClientFactory, Client, bearer, make_token
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import agent_config

from .conftest import message, rpc, stream


async def test_send_message_runs_the_agent(client: Client, auth: dict[str, str]) -> None:
    body = await rpc(client, "SendMessage", {"message": message("Say hello")}, auth)
    task = body["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    [artifact] = task["artifacts"]
    assert artifact["parts"] == [{"text": "Hello, world!"}]
    assert [m["role"] for m in task["history"]] == ["ROLE_USER", "ROLE_AGENT"]
    got = await rpc(client, "GetTask", {"id": task["id"]}, auth)
    assert got["result"]["id"] == task["id"]
    assert got["result"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_stream_sends_the_task_first_and_ends_on_its_final_state(
    client: Client, auth: dict[str, str]
) -> None:
    events = await stream(client, "SendStreamingMessage", {"message": message("hi")}, auth)
    assert events[0]["task"]["status"]["state"] == "TASK_STATE_SUBMITTED"
    kinds = [next(iter(event)) for event in events[1:]]
    assert kinds == ["statusUpdate", "artifactUpdate", "statusUpdate"]
    assert events[1]["statusUpdate"]["status"]["state"] == "TASK_STATE_WORKING"
    assert events[2]["artifactUpdate"]["artifact"]["parts"] == [{"text": "Hello, world!"}]
    assert events[3]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_context_carries_earlier_turns(
    client: Client, fake: FakeServer, auth: dict[str, str]
) -> None:
    first = (await rpc(client, "SendMessage", {"message": message("My name is Ada")}, auth))[
        "result"
    ]["task"]
    follow_up = message("What is my name?", context_id=first["contextId"])
    second = (await rpc(client, "SendMessage", {"message": follow_up}, auth))["result"]["task"]
    assert second["contextId"] == first["contextId"]
    sent = str(fake.openai.requests[-1]["messages"])
    for turn in ("My name is Ada", "Hello, world!", "What is my name?"):
        assert turn in sent


async def test_list_tasks_shows_only_the_callers_own(client: Client, auth: dict[str, str]) -> None:
    mine = (await rpc(client, "SendMessage", {"message": message("one")}, auth))["result"]["task"]
    other = bearer(make_token("bob"))
    theirs = (await rpc(client, "SendMessage", {"message": message("two")}, other))["result"]
    listed = (await rpc(client, "ListTasks", {}, auth))["result"]
    assert [task["id"] for task in listed["tasks"]] == [mine["id"]]
    assert listed["totalSize"] == 1
    missing = await rpc(client, "GetTask", {"id": theirs["task"]["id"]}, auth)
    assert missing["error"]["code"] == -32001


async def test_cancel_stops_a_running_task(
    client: Client, fake: FakeServer, auth: dict[str, str]
) -> None:
    fake.openai.script(Behavior(chunk_delay=1.0, chunks=("slow",) * 10))
    params = {"message": message("slow"), "configuration": {"returnImmediately": True}}
    task = (await rpc(client, "SendMessage", params, auth))["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_SUBMITTED"
    await asyncio.sleep(0.2)
    canceled = (await rpc(client, "CancelTask", {"id": task["id"]}, auth))["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    again = await rpc(client, "CancelTask", {"id": task["id"]}, auth)
    assert again["error"]["code"] == -32002


async def test_upstream_failure_is_a_failed_task(
    make_agent_client: AgentClientFactory, fake: FakeServer, auth: dict[str, str]
) -> None:
    client = await make_agent_client(agent_config(fake, max_retries=0))
    fake.openai.script(Behavior(status=500, message="upstream down"))
    fake.anthropic.script(Behavior(status=500, message="fallback down too"))
    task = (await rpc(client, "SendMessage", {"message": message("x")}, auth))["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert "upstream_" in task["status"]["message"]["parts"][0]["text"]


async def test_a_request_the_provider_refuses_is_a_rejected_task(
    make_agent_client: AgentClientFactory, fake: FakeServer, auth: dict[str, str]
) -> None:
    client = await make_agent_client(agent_config(fake, max_retries=0))
    fake.openai.script(Behavior(status=400, message="prompt is too long"))
    task = (await rpc(client, "SendMessage", {"message": message("x")}, auth))["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_REJECTED"
    assert "provider_invalid_request" in task["status"]["message"]["parts"][0]["text"]


async def test_spent_budget_is_a_failed_task(
    make_agent_client: AgentClientFactory, fake: FakeServer, auth: dict[str, str]
) -> None:
    config = agent_config(fake, rate_limit={"enabled": True, "tokens_per_minute": 10})
    client = await make_agent_client(config)
    # The first task spends the minute's budget (a budget refuses once it is used up).
    first = (await rpc(client, "SendMessage", {"message": message("x")}, auth))["result"]
    assert first["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    task = (await rpc(client, "SendMessage", {"message": message("y")}, auth))["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    assert "token_budget_exceeded" in task["status"]["message"]["parts"][0]["text"]
    assert fake.openai.attempts == 1


async def test_overload_is_refused_before_a_task(
    make_agent_client: AgentClientFactory, fake: FakeServer, auth: dict[str, str]
) -> None:
    base = agent_config(fake).model_dump()["server"]
    client = await make_agent_client(server={**base, "max_inflight_runs": 1})
    fake.openai.default = Behavior(header_delay=0.5)
    first = asyncio.create_task(rpc(client, "SendMessage", {"message": message("a")}, auth))
    await asyncio.sleep(0.2)
    refused = await rpc(client, "SendMessage", {"message": message("b")}, auth, status=503)
    assert refused["error"]["data"]["code"] == "server_overloaded"
    assert (await first)["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    listed = (await rpc(client, "ListTasks", {}, auth))["result"]
    assert listed["totalSize"] == 1


BAD: dict[str, tuple[Any, dict[str, str], int, int]] = {
    "unsupported version": (
        {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}},
        {"A2A-Version": "2.0"},
        200,
        -32009,
    ),
    "unknown method": ({"jsonrpc": "2.0", "id": 1, "method": "Nope"}, {}, 200, -32601),
    "not a request": ({"jsonrpc": "2.0"}, {}, 200, -32600),
    "bad params": (
        {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {}}},
        {"A2A-Version": "1.0"},
        200,
        -32602,
    ),
    "unknown task": (
        {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "nope"}},
        {"A2A-Version": "1.0"},
        200,
        -32001,
    ),
}


@pytest.mark.parametrize("case", BAD)
async def test_protocol_errors(client: Client, auth: dict[str, str], case: str) -> None:
    body, headers, status, code = BAD[case]
    answer = await client.post("/a2a/coding", json=body, headers={**auth, **headers})
    assert answer.status == status
    assert (await answer.json())["error"]["code"] == code


async def test_malformed_json_is_a_parse_error(client: Client, auth: dict[str, str]) -> None:
    answer = await client.post(
        "/a2a/coding", data=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert answer.status == 400
    assert (await answer.json())["error"]["code"] == -32700


async def test_unknown_agent_is_404(client: Client, auth: dict[str, str]) -> None:
    body = await rpc(client, "GetTask", {"id": "x"}, auth, agent="nobody", status=404)
    assert body["error"]["data"]["code"] == "agent_not_found"


async def test_missing_token_is_a_jsonrpc_error(client: Client) -> None:
    answer = await client.post("/a2a/coding", json={"jsonrpc": "2.0", "id": 1, "method": "x"})
    assert answer.status == 401
    assert (await answer.json())["error"]["data"]["code"] == "missing_token"


async def test_metrics_count_requests_and_tasks(client: Client, auth: dict[str, str]) -> None:
    await rpc(client, "SendMessage", {"message": message("hi")}, auth)
    text = await (await client.get("/metrics")).text()
    assert (
        'agentsmcp_a2a_requests_total{agent="coding",method="SendMessage",outcome="ok"} 1.0' in text
    )
    assert 'agentsmcp_a2a_task_duration_seconds_count{agent="coding",state="completed"} 1.0' in text


async def test_a_task_running_at_shutdown_ends_failed(
    make_agent_client: AgentClientFactory, fake: FakeServer, auth: dict[str, str]
) -> None:
    client = await make_agent_client()
    fake.openai.script(Behavior(chunk_delay=1.0, chunks=("slow",) * 10))
    params = {"message": message("slow"), "configuration": {"returnImmediately": True}}
    task = (await rpc(client, "SendMessage", params, auth))["result"]["task"]
    await asyncio.sleep(0.2)
    service = client.app[A2A_KEY].service
    assert service is not None
    await service.stop()
    stored = await service.store.load("alice", task["id"])
    assert stored is not None
    assert stored.state == "failed"
    assert "server_shutting_down" in (stored.status_text or "")
