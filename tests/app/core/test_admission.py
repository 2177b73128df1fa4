"""Overload shedding: past server.max_inflight_runs agent requests get a fast 503."""

from __future__ import annotations

import asyncio
import time

from tests.app.conftest import AgentClientFactory, bearer, make_token
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import agent_config

MESSAGES = [{"role": "user", "content": "hi"}]


async def test_requests_past_the_limit_get_503_with_retry_after(
    make_agent_client: AgentClientFactory, fake: FakeServer
) -> None:
    base = agent_config(fake).model_dump()["server"]
    client = await make_agent_client(server={**base, "max_inflight_runs": 2})
    fake.openai.default = Behavior(header_delay=0.5)
    auth = bearer(make_token())

    async def chat(stream: bool = False) -> tuple[int, float, str]:
        started = time.perf_counter()
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "coding", "messages": MESSAGES, "stream": stream},
            headers=auth,
        )
        text = await response.text()
        retry_after = response.headers.get("Retry-After", "")
        return response.status, time.perf_counter() - started, text + retry_after

    admitted = [asyncio.create_task(chat()), asyncio.create_task(chat(stream=True))]
    await asyncio.sleep(0.2)
    metrics = await (await client.get("/metrics")).text()
    assert "agentsmcp_agent_requests_in_flight 2.0" in metrics
    assert "agentsmcp_agent_requests_limit 2.0" in metrics
    status, seconds, body = await chat()
    assert status == 503
    assert seconds < 0.2
    assert '"code": "server_overloaded"' in body
    assert body.endswith("1")  # Retry-After: 1
    runs = await client.post("/v1/agents/coding/runs", json={"input": "hi"}, headers=auth)
    assert runs.status == 503
    assert (await client.get("/health/live")).status == 200
    results = await asyncio.gather(*admitted)
    assert [result[0] for result in results] == [200, 200]
    assert "Hello, world!" in results[0][2]
    metrics = await (await client.get("/metrics")).text()
    assert "agentsmcp_agent_requests_in_flight 0.0" in metrics
    assert "agentsmcp_overload_rejected_total 2.0" in metrics
    # Capacity is back once the admitted runs finished.
    fake.openai.default = Behavior()
    ok = await client.post(
        "/v1/chat/completions", json={"model": "coding", "messages": MESSAGES}, headers=auth
    )
    assert ok.status == 200


async def test_a_failed_run_releases_its_slot(
    make_agent_client: AgentClientFactory, fake: FakeServer
) -> None:
    base = agent_config(fake).model_dump()["server"]
    client = await make_agent_client(server={**base, "max_inflight_runs": 1}, max_retries=0)
    auth = bearer(make_token())
    fake.anthropic.default = Behavior(status=500)
    for _ in range(3):
        response = await client.post(
            "/v1/agents/coding-claude/runs", json={"input": "hi"}, headers=auth
        )
        assert response.status == 502
    bad = await client.post("/v1/agents/coding/runs", json={"nope": 1}, headers=auth)
    assert bad.status == 400
    ok = await client.post("/v1/agents/coding/runs", json={"input": "hi"}, headers=auth)
    assert ok.status == 200
