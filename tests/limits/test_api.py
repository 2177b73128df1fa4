"""Limits through the real app: request limits and token budgets on a real redis-server (and the
in-process backend), reached with the official OpenAI SDK where a client's view matters."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app.app_keys import METRICS_KEY
from app.config import AppConfig
from app.core import estimate_tokens
from app.server import create_app
from tests.app.conftest import bearer, make_token
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import DEFAULT_AGENTS, agent_config
from tests.redis_server import RedisServer
from tests.sse import sse_events

Client = TestClient[web.Request, web.Application]
MESSAGES = [{"role": "user", "content": "Write a haiku."}]
# What the fakes report by default: 11 prompt tokens, one completion token per chunk (4).
RUN_TOKENS = 15
CLAIM = "agentsmcp_limits"


@pytest.fixture(params=["redis", "memory"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def limits_config(
    fake: FakeServer, redis: RedisServer | None, policy: str = "open", **rate_limit: Any
) -> AppConfig:
    settings: dict[str, Any] = {
        "enabled": True,
        "requests_per_minute": 6000,
        "burst": 1000,
        "on_store_failure": policy,
        **rate_limit,
    }
    secrets: dict[str, str] = {}
    if redis is not None:
        settings["backend"] = "redis"
        secrets = {"redis_url": redis.url, "redis_password": redis.password}
    return agent_config(fake, max_retries=1, rate_limit=settings, **secrets)


async def start(aiohttp_client: Any, config: AppConfig) -> Client:
    client: Client = await aiohttp_client(create_app(config))
    return client


async def run(client: Client, token: str, agent: str = "coding", **body: Any) -> Any:
    return await client.post(
        "/v1/chat/completions",
        json={"model": agent, "messages": MESSAGES, **body},
        headers=bearer(token),
    )


def charged(client: Client, agent: str) -> float:
    registry = client.app[METRICS_KEY].registry
    value = registry.get_sample_value("agentsmcp_ratelimit_tokens_charged_total", {"agent": agent})
    return 0.0 if value is None else value


def minute_counter(redis: RedisServer, key: str) -> int:
    window = int(time.time()) // 60
    return int(redis.command("GET", f"agentsmcp:tk:{key}:60:{window}") or 0)


async def test_two_servers_share_one_request_limit(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    config = limits_config(fake, redis_server, requests_per_minute=1, burst=3)
    first, second = await start(aiohttp_client, config), await start(aiohttp_client, config)
    token = make_token("alice")
    statuses = []
    for index in range(6):
        client = (first, second)[index % 2]
        statuses.append((await client.get("/v1/models", headers=bearer(token))).status)
    assert statuses == [200, 200, 200, 429, 429, 429]


async def test_spent_token_budget_is_a_429_the_openai_sdk_understands(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer, backend: str
) -> None:
    redis = redis_server if backend == "redis" else None
    client = await start(aiohttp_client, limits_config(fake, redis, tokens_per_minute=20))
    sdk = openai.AsyncOpenAI(
        api_key=make_token("alice"), base_url=str(client.make_url("/v1")), max_retries=0
    )
    for _ in range(2):  # 15 tokens, then 30: admitted while anything is left
        await sdk.chat.completions.create(model="coding", messages=MESSAGES)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.chat.completions.create(model="coding", messages=MESSAGES)  # type: ignore[arg-type]
    await sdk.close()
    error = caught.value
    assert error.status_code == 429
    assert error.code == "token_budget_exceeded"
    assert "tokens-per-minute" in error.message
    headers = error.response.headers
    assert headers["RateLimit-Policy"] == '20;w=60;name="tokens-per-minute"'
    assert headers["RateLimit-Limit"] == "20"
    assert headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert fake.openai.attempts == 2
    assert charged(client, "coding") == 2 * RUN_TOKENS
    if redis is not None:
        assert minute_counter(redis, "sub:alice") == 2 * RUN_TOKENS
    # Another subject has its own budget.
    assert (await run(client, make_token("bob"))).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert (
        'agentsmcp_ratelimit_rejections_total{agent="coding",limit="tokens-per-minute"} 1.0'
        in metrics
    )


async def test_streams_charge_the_usage_the_provider_reported(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer, backend: str
) -> None:
    redis = redis_server if backend == "redis" else None
    client = await start(aiohttp_client, limits_config(fake, redis, tokens_per_day=10_000))
    for agent in ("coding", "coding-claude"):
        response = await run(client, make_token("alice"), agent, stream=True)
        assert response.status == 200
        assert sse_events(await response.text())[-1] == (None, "[DONE]")
        assert charged(client, agent) == RUN_TOKENS
    if redis is not None:
        window = int(time.time()) // 86_400
        used = redis.command("GET", f"agentsmcp:tk:sub:alice:86400:{window}")
        assert int(used) == 2 * RUN_TOKENS


@pytest.mark.parametrize("stream", [False, True])
async def test_a_fallback_charges_only_the_agent_that_answered(
    aiohttp_client: Any,
    fake: FakeServer,
    redis_server: RedisServer,
    stream: bool,
) -> None:
    config = limits_config(
        fake,
        redis_server,
        tokens_per_minute=1000,
        agents={
            "coding": {"tokens_per_minute": 1000},
            "coding-claude": {"tokens_per_minute": 1000},
        },
    )
    client = await start(aiohttp_client, config)
    fake.openai.default = Behavior(status=529, retry_after_ms=5)
    fake.anthropic.default = Behavior(prompt_tokens=30, completion_tokens=7)
    response = await run(client, make_token("alice"), stream=stream)
    assert response.status == 200
    assert response.headers["X-Agentsmcp-Agent"] == "coding-claude"
    await response.read()
    assert minute_counter(redis_server, "sub:alice") == 37
    assert minute_counter(redis_server, "agent:coding-claude") == 37
    assert minute_counter(redis_server, "agent:coding") == 0
    assert charged(client, "coding") == 0
    assert charged(client, "coding-claude") == 37


async def test_a_broken_stream_still_charges_what_it_used(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    client = await start(aiohttp_client, limits_config(fake, redis_server, tokens_per_day=10_000))
    # Anthropic reported the prompt (11) before the drop; the delivered text is estimated.
    fake.anthropic.script(Behavior(drop_after=2))
    response = await run(client, make_token("alice"), "coding-claude", stream=True)
    body = await response.text()
    assert "upstream" in body
    assert charged(client, "coding-claude") == 11 + estimate_tokens(len("Hello, "))
    # OpenAI reports usage only at the end: prompt and delivered text are both estimated.
    fake.openai.script(Behavior(drop_after=2), Behavior(drop_after=2))
    response = await run(client, make_token("alice"), "coding", stream=True)
    await response.read()
    prompt_chars = len(DEFAULT_AGENTS["coding"]["system_prompt"]) + len(MESSAGES[0]["content"])
    expected = estimate_tokens(prompt_chars) + estimate_tokens(len("Hello, "))
    assert charged(client, "coding") == expected


@pytest.mark.parametrize("stream", [False, True])
async def test_an_agent_budget_refuses_only_that_agent(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer, backend: str, stream: bool
) -> None:
    redis = redis_server if backend == "redis" else None
    config = limits_config(fake, redis, agents={"coding": {"tokens_per_day": 10}})
    client = await start(aiohttp_client, config)
    first = await run(client, make_token("alice"), stream=stream)
    assert first.status == 200
    await first.read()
    # The agent's budget is shared by every caller; a stream is refused before it opens.
    response = await run(client, make_token("bob"), stream=stream)
    assert response.status == 429
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == "token_budget_exceeded"
    assert "agent 'coding'" in body["error"]["message"]
    assert response.headers["RateLimit-Policy"] == '10;w=86400;name="agent-tokens-per-day"'
    assert (await run(client, make_token("bob"), "coding-claude")).status == 200


async def test_a_spent_budget_refuses_a_streamed_run_before_the_stream_opens(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    client = await start(aiohttp_client, limits_config(fake, redis_server, tokens_per_minute=5))
    token = make_token("alice")
    path = "/v1/agents/coding/runs"
    first = await client.post(path, json={"input": "hi", "stream": True}, headers=bearer(token))
    assert first.status == 200
    await first.read()
    second = await client.post(path, json={"input": "hi", "stream": True}, headers=bearer(token))
    assert second.status == 429
    assert second.content_type == "application/json"
    assert fake.openai.attempts == 1


async def test_limits_are_overridden_per_subject_by_config_and_by_claim(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer, backend: str
) -> None:
    redis = redis_server if backend == "redis" else None
    config = limits_config(
        fake,
        redis,
        burst=1,
        requests_per_minute=1,
        override_claim=CLAIM,
        subjects={"bob": {"burst": 3}},
    )
    client = await start(aiohttp_client, config)

    async def statuses(token: str, count: int) -> list[int]:
        return [
            (await client.get("/v1/models", headers=bearer(token))).status for _ in range(count)
        ]

    assert await statuses(make_token("alice"), 2) == [200, 429]
    assert await statuses(make_token("bob"), 4) == [200, 200, 200, 429]
    # The claim wins over config, field by field.
    carol = make_token("carol", **{CLAIM: {"burst": 2, "tokens_per_minute": 5}})
    assert await statuses(carol, 3) == [200, 200, 429]
    dave = make_token("dave", **{CLAIM: {"burst": 10, "tokens_per_minute": 5}})
    assert (await run(client, dave)).status == 200
    refused = await run(client, dave)
    assert refused.status == 429
    assert refused.headers["RateLimit-Policy"] == '5;w=60;name="tokens-per-minute"'
    invalid = make_token("erin", **{CLAIM: {"burst": "lots"}})
    response = await client.get("/v1/models", headers=bearer(invalid))
    assert response.status == 401
    assert "rate-limit claim" in (await response.json())["error"]["message"]


async def test_fail_closed_is_a_quick_503_while_readiness_stays_200(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    client = await start(aiohttp_client, limits_config(fake, redis_server, policy="closed"))
    token = make_token("alice")
    assert (await run(client, token)).status == 200
    redis_server.kill()
    started = time.perf_counter()
    response = await run(client, token)
    assert time.perf_counter() - started < 1.0
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert (await response.json())["error"]["code"] == "rate_limit_store_unavailable"
    assert (await client.get("/health/ready")).status == 200
    redis_server.start()
    await asyncio.sleep(1.1)  # the retry interval (1 s): the next request tries the store again
    assert (await run(client, token)).status == 200


async def test_fail_open_serves_under_local_limits(
    aiohttp_client: Any, fake: FakeServer, redis_server: RedisServer
) -> None:
    config = limits_config(fake, redis_server, requests_per_minute=1, burst=2)
    client = await start(aiohttp_client, config)
    token = make_token("alice")
    assert (await client.get("/v1/models", headers=bearer(token))).status == 200
    redis_server.kill()
    statuses = [(await client.get("/v1/models", headers=bearer(token))).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert (await client.get("/health/ready")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert "agentsmcp_ratelimit_store_up 0.0" in metrics
    assert "agentsmcp_ratelimit_store_fallbacks_total 1.0" in metrics
