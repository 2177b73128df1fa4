"""Like every front door: token budgets, load shedding and the agent metrics apply to
POST /v1/responses exactly as to chat completions."""

from __future__ import annotations

import asyncio

from tests.app.conftest import AgentClientFactory, bearer, make_token
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import agent_config

BODY = {"model": "coding", "input": "hi"}


async def test_spent_token_budget_is_429(
    make_agent_client: AgentClientFactory, fake: FakeServer
) -> None:
    client = await make_agent_client(rate_limit={"enabled": True, "tokens_per_minute": 10})
    auth = bearer(make_token())
    # The first response spends the minute's budget (a budget refuses once it is used up).
    assert (await client.post("/v1/responses", json=BODY, headers=auth)).status == 200
    for stream in (False, True):
        answer = await client.post("/v1/responses", json={**BODY, "stream": stream}, headers=auth)
        assert answer.status == 429
        assert (await answer.json())["error"]["code"] == "token_budget_exceeded"
        assert "Retry-After" in answer.headers
    assert fake.openai.attempts == 1


async def test_overload_is_503(make_agent_client: AgentClientFactory, fake: FakeServer) -> None:
    base = agent_config(fake).model_dump()["server"]
    client = await make_agent_client(server={**base, "max_inflight_runs": 1})
    fake.openai.default = Behavior(header_delay=0.5)
    auth = bearer(make_token())
    first = asyncio.create_task(client.post("/v1/responses", json=BODY, headers=auth))
    await asyncio.sleep(0.2)
    refused = await client.post("/v1/responses", json={**BODY, "stream": True}, headers=auth)
    assert refused.status == 503
    assert (await refused.json())["error"]["code"] == "server_overloaded"
    assert (await first).status == 200


async def test_runs_and_tokens_are_counted(
    make_agent_client: AgentClientFactory, fake: FakeServer
) -> None:
    client = await make_agent_client()
    auth = bearer(make_token())
    for stream in (False, True):
        answer = await client.post("/v1/responses", json={**BODY, "stream": stream}, headers=auth)
        assert answer.status == 200
        await answer.read()
    metrics = await (await client.get("/metrics")).text()
    assert (
        'agentsmcp_agent_runs_total{agent="coding",outcome="success",provider="openai"} 2.0'
        in metrics
    )
    assert 'route="/v1/responses"' in metrics
