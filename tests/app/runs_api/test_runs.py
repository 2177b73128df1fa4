"""The native runs API, GET /v1/agents and GET /v1/models."""

from __future__ import annotations

import json

import pytest

from tests.app.conftest import AgentClientFactory, Client
from tests.fakes import Behavior, FakeServer
from tests.sse import sse_events

AGENTS = {"coding": ("openai", "gpt-4o"), "coding-claude": ("anthropic", "claude-sonnet-5-5")}


@pytest.mark.parametrize("agent", list(AGENTS))
async def test_run(client: Client, auth: dict[str, str], agent: str) -> None:
    response = await client.post(
        f"/v1/agents/{agent}/runs",
        json={"input": "Write hello world", "metadata": {"ticket": "T-1", "n": 2}},
        headers=auth,
    )
    assert response.status == 200
    body = await response.json()
    assert body["id"].startswith("run_")
    assert body["agent"] == agent
    assert body["status"] == "completed"
    assert body["output"] == "Hello, world!"
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    assert (body["provider"], body["model"]) == AGENTS[agent]
    assert body["duration_ms"] > 0
    assert body["metadata"] == {"ticket": "T-1", "n": 2}


@pytest.mark.parametrize("agent", list(AGENTS))
async def test_streaming_run(client: Client, auth: dict[str, str], agent: str) -> None:
    response = await client.post(
        f"/v1/agents/{agent}/runs",
        json={"input": [{"role": "user", "content": "hi"}], "stream": True, "metadata": {"a": 1}},
        headers=auth,
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(await response.text())
    names = [name for name, _ in events]
    assert names == ["run.started", *["run.delta"] * 4, "run.completed"]
    started = json.loads(events[0][1])
    assert (started["agent"], started["status"]) == (agent, "running")
    deltas = [json.loads(data)["delta"] for _, data in events[1:-1]]
    assert "".join(deltas) == "Hello, world!"
    final = json.loads(events[-1][1])
    assert final["id"] == started["id"]
    assert final["status"] == "completed"
    assert final["output"] == "Hello, world!"
    assert final["usage"]["total_tokens"] == 15
    assert final["metadata"] == {"a": 1}
    assert (final["provider"], final["model"]) == AGENTS[agent]


async def test_streaming_run_failure(
    make_agent_client: AgentClientFactory, auth: dict[str, str], fake: FakeServer
) -> None:
    client = await make_agent_client(max_retries=0)
    fake.anthropic.default = Behavior(status=400, message="max_tokens: too large")
    response = await client.post(
        "/v1/agents/coding-claude/runs", json={"input": "hi", "stream": True}, headers=auth
    )
    events = sse_events(await response.text())
    assert [name for name, _ in events] == ["run.started", "run.failed"]
    failed = json.loads(events[-1][1])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "provider_invalid_request"
    assert failed["error"]["type"] == "invalid_request_error"
    assert "max_tokens: too large" in failed["error"]["message"]


async def test_unknown_agent(client: Client, auth: dict[str, str]) -> None:
    response = await client.post("/v1/agents/ghost/runs", json={"input": "hi"}, headers=auth)
    assert response.status == 404
    error = (await response.json())["error"]
    assert error["code"] == "agent_not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": 4}, "input"),
        ({"input": [{"role": "user", "content": None}]}, "input[0].content"),
        ({"input": "hi", "stream": 1}, "stream"),
        ({"input": "hi", "metadata": []}, "metadata"),
        ({"input": "hi", "metdata": {}}, "metdata"),
    ],
)
async def test_invalid_run_bodies(
    client: Client, auth: dict[str, str], body: object, param: str
) -> None:
    response = await client.post("/v1/agents/coding/runs", json=body, headers=auth)
    assert response.status == 400
    error = (await response.json())["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


async def test_malformed_json(client: Client, auth: dict[str, str]) -> None:
    response = await client.post(
        "/v1/agents/coding/runs",
        data=b"{nope",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_json"


async def test_list_agents_without_secrets(client: Client, auth: dict[str, str]) -> None:
    response = await client.get("/v1/agents", headers=auth)
    assert response.status == 200
    text = await response.text()
    assert "careful engineer" not in text
    assert "test-openai-key" not in text
    data = json.loads(text)["data"]
    assert data[0] == {
        "name": "coding",
        "type": "coding",
        "provider": "openai",
        "model": "gpt-4o",
        "timeout": 10.0,
        "max_tokens": 256,
        "fallback": "coding-claude",
        "available": True,
    }
    assert [agent["name"] for agent in data] == ["coding", "coding-claude"]


async def test_list_models(client: Client, auth: dict[str, str]) -> None:
    response = await client.get("/v1/models", headers=auth)
    body = await response.json()
    assert body["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"]) for m in body["data"]] == [
        ("coding", "model", "openai"),
        ("coding-claude", "model", "anthropic"),
    ]
    assert all(isinstance(m["created"], int) for m in body["data"])


async def test_models_via_the_openai_sdk(client: Client) -> None:
    import openai

    from tests.app.conftest import make_token

    sdk = openai.AsyncOpenAI(api_key=make_token(), base_url=str(client.make_url("/v1")))
    models = [model.id async for model in sdk.models.list()]
    await sdk.close()
    assert models == ["coding", "coding-claude"]
