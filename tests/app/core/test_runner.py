"""The agent runner: fallback only on retryable errors, timeouts over whole streams, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from app.config import AppConfig
from app.core import (
    AgentMetrics,
    AgentRegistry,
    AgentRunner,
    ProviderNotConfiguredError,
    ProviderRequestError,
    RunOptions,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimitError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from app.providers import ChatMessage, build_providers
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import DEFAULT_AGENTS, OPENAI_KEY, agent_config

MESSAGES = [ChatMessage("user", "hi")]
FAST = {"retry_after_ms": 5}


class Harness:
    def __init__(self, config: AppConfig) -> None:
        self.registry = CollectorRegistry()
        self.providers = build_providers(config)
        self.runner = AgentRunner(
            AgentRegistry(config.agents, self.providers), AgentMetrics(self.registry)
        )

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    async def complete(self, agent: str) -> Any:
        return await self.runner.complete(self.runner.agent(agent), MESSAGES, RunOptions())

    async def stream(self, agent: str) -> tuple[str, Any]:
        stream = self.runner.stream(self.runner.agent(agent), MESSAGES, RunOptions())
        async with stream:
            text = "".join([delta async for delta in stream])
        return text, stream

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


@pytest.fixture
async def harness(fake: FakeServer) -> AsyncIterator[Harness]:
    h = Harness(agent_config(fake, max_retries=2))
    yield h
    await h.close()


async def make_harness(fake: FakeServer, **overrides: Any) -> Harness:
    return Harness(agent_config(fake, **overrides))


@pytest.mark.parametrize("status", [429, 500, 503, 529])
@pytest.mark.parametrize("streaming", [False, True])
async def test_fallback_after_retryable_errors(
    harness: Harness, fake: FakeServer, status: int, streaming: bool
) -> None:
    fake.openai.default = Behavior(status=status, **FAST)
    if streaming:
        text, stream = await harness.stream("coding")
        answered = stream.result.agent.name
    else:
        result = await harness.complete("coding")
        text, answered = result.text, result.agent.name
    assert (text, answered) == ("Hello, world!", "coding-claude")
    # The SDK retried (max_retries=2) before the fallback took over; nothing retried on top.
    assert fake.openai.attempts == 3
    assert fake.anthropic.attempts == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ProviderRequestError),  # the client's mistake: a 400 (issue 12)
        (404, UpstreamError),  # a configured model the provider does not know: ours, 502
        (401, UpstreamAuthError),
    ],
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_no_fallback_for_request_errors(
    harness: Harness, fake: FakeServer, status: int, error: type[Exception], streaming: bool
) -> None:
    fake.openai.default = Behavior(status=status)
    with pytest.raises(error) as caught:
        await (harness.stream("coding") if streaming else harness.complete("coding"))
    assert type(caught.value) is error
    assert fake.openai.attempts == 1
    assert fake.anthropic.attempts == 0


async def test_fallback_on_connection_failure_before_the_first_token(
    harness: Harness, fake: FakeServer
) -> None:
    fake.openai.default = Behavior(drop_after=0)
    text, stream = await harness.stream("coding")
    assert (text, stream.agent.name) == ("Hello, world!", "coding-claude")


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_failed_fallback_also_names_the_primary_failure(
    fake: FakeServer, streaming: bool
) -> None:
    # Only OPENAI_API_KEY set: coding (OpenAI) fails, its fallback coding-claude has no key.
    harness = await make_harness(fake, keys=False, openai_api_key=OPENAI_KEY)
    fake.openai.default = Behavior(status=503, retry_after_ms=5)
    run = harness.stream if streaming else harness.complete
    with pytest.raises(ProviderNotConfiguredError) as caught:
        await run("coding")
    await harness.close()
    error = caught.value
    assert (error.status, error.code) == (503, "provider_not_configured")
    assert error.message.startswith("Agent 'coding': ")
    assert (
        "Its fallback, agent 'coding-claude', failed too: Agent 'coding-claude' is unavailable"
        in (error.message)
    )
    assert error.body()["error"]["message"] == error.message


async def test_no_fallback_after_text_was_streamed(harness: Harness, fake: FakeServer) -> None:
    fake.openai.default = Behavior(drop_after=2)
    received: list[str] = []
    stream = harness.runner.stream(harness.runner.agent("coding"), MESSAGES, RunOptions())

    async def consume() -> None:
        async with stream:
            async for delta in stream:
                received.append(delta)

    with pytest.raises(UpstreamUnavailableError):
        await consume()
    assert received == ["Hello", ", "]
    assert fake.anthropic.attempts == 0


async def test_rate_limit_without_fallback_is_503_with_retry_after(
    harness: Harness, fake: FakeServer
) -> None:
    fake.anthropic.default = Behavior(status=429, retry_after_ms=5, retry_after=3)
    with pytest.raises(UpstreamRateLimitError) as caught:
        await harness.complete("coding-claude")
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "1"
    assert fake.anthropic.attempts == 3


async def test_timeout_bounds_a_slow_first_byte(fake: FakeServer) -> None:
    agents = {"slow": {**DEFAULT_AGENTS["coding-claude"], "timeout": 0.3}}
    harness = await make_harness(fake, agents=agents)
    fake.anthropic.default = Behavior(header_delay=5)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError) as caught:
        await harness.complete("slow")
    elapsed = time.monotonic() - started
    await harness.close()
    assert caught.value.status == 504
    assert elapsed < 1.5
    await fake.anthropic.wait_disconnect(within=1.0)


async def test_timeout_bounds_the_whole_stream(fake: FakeServer) -> None:
    # Each chunk is quick, but together they exceed the agent's timeout.
    agents = {"slow": {**DEFAULT_AGENTS["coding"], "timeout": 0.5, "fallback": None}}
    harness = await make_harness(fake, agents=agents)
    fake.openai.default = Behavior(chunks=("x",) * 40, chunk_delay=0.05)
    received: list[str] = []
    stream = harness.runner.stream(harness.runner.agent("slow"), MESSAGES, RunOptions())

    async def consume() -> None:
        async with stream:
            async for delta in stream:
                received.append(delta)

    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError):
        await consume()
    elapsed = time.monotonic() - started
    await harness.close()
    assert 0.4 < elapsed < 1.5
    assert 0 < len(received) < 40
    disconnect = await fake.openai.wait_disconnect(within=1.0)
    assert disconnect.chunks_sent < 40


async def test_timeout_falls_back(fake: FakeServer) -> None:
    agents = {
        "primary": {**DEFAULT_AGENTS["coding"], "timeout": 0.3, "fallback": "backup"},
        "backup": DEFAULT_AGENTS["coding-claude"],
    }
    harness = await make_harness(fake, agents=agents)
    fake.openai.default = Behavior(header_delay=5)
    result = await harness.complete("primary")
    await harness.close()
    assert result.agent.name == "backup"


async def test_unconfigured_provider(fake: FakeServer) -> None:
    config = agent_config(fake, keys=False, openai_api_key="k-openai-0123456789")
    harness = Harness(config)
    with pytest.raises(ProviderNotConfiguredError) as caught:
        await harness.complete("coding-claude")
    assert caught.value.status == 503
    assert caught.value.code == "provider_not_configured"
    assert "ANTHROPIC_API_KEY" in caught.value.message
    assert (
        harness.metric(
            "agentsmcp_agent_runs_total",
            agent="coding-claude",
            provider="anthropic",
            outcome="provider_not_configured",
        )
        == 1
    )
    await harness.close()


async def test_metrics_after_runs(harness: Harness, fake: FakeServer) -> None:
    await harness.complete("coding")
    await harness.stream("coding")
    fake.openai.default = Behavior(status=500, **FAST)
    await harness.complete("coding")  # falls back to coding-claude
    fake.anthropic.default = Behavior(status=400)
    with pytest.raises(ProviderRequestError):
        await harness.complete("coding-claude")

    m = harness.metric
    runs = "agentsmcp_agent_runs_total"
    assert m(runs, agent="coding", provider="openai", outcome="success") == 2
    assert m(runs, agent="coding", provider="openai", outcome="upstream_unavailable") == 1
    assert m(runs, agent="coding-claude", provider="anthropic", outcome="success") == 1
    assert (
        m(runs, agent="coding-claude", provider="anthropic", outcome="provider_invalid_request")
        == 1
    )
    requests = "agentsmcp_provider_requests_total"
    assert m(requests, provider="openai", outcome="success") == 2
    assert m(requests, provider="openai", outcome="overloaded") == 1
    assert m(requests, provider="anthropic", outcome="request") == 1
    tokens = "agentsmcp_llm_tokens_total"
    labels = {"agent": "coding", "provider": "openai", "model": "gpt-4o"}
    assert m(tokens, **labels, kind="prompt") == 22
    assert m(tokens, **labels, kind="completion") == 8
    claude = {"agent": "coding-claude", "provider": "anthropic", "model": "claude-sonnet-5-5"}
    assert m(tokens, **claude, kind="completion") == 4
    assert m("agentsmcp_agent_run_duration_seconds_count", agent="coding") == 3
    assert m("agentsmcp_time_to_first_token_seconds_count", agent="coding") == 1
    assert m("agentsmcp_inflight_runs", agent="coding") == 0


async def test_inflight_gauge_during_a_run(harness: Harness, fake: FakeServer) -> None:
    fake.openai.default = Behavior(header_delay=0.3)
    task = asyncio.create_task(harness.complete("coding"))
    await asyncio.sleep(0.15)
    assert harness.metric("agentsmcp_inflight_runs", agent="coding") == 1
    await task
    assert harness.metric("agentsmcp_inflight_runs", agent="coding") == 0


async def test_cancelled_run_closes_the_upstream_and_counts(
    harness: Harness, fake: FakeServer
) -> None:
    fake.openai.default = Behavior(header_delay=5)
    task = asyncio.create_task(harness.complete("coding"))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.openai.wait_disconnect(within=1.0)
    runs = "agentsmcp_agent_runs_total"
    assert harness.metric(runs, agent="coding", provider="openai", outcome="cancelled") == 1


async def test_more_streams_than_the_sdks_pool_all_reach_the_upstream(fake: FakeServer) -> None:
    # The SDKs' own pool stops at 1,000 connections; admission allows more here, so the pool
    # must not hold the rest back in a queue of its own.
    streams = 1050
    harness = await make_harness(fake, server={"max_inflight_runs": streams + 50})
    fake.openai.default = Behavior(header_delay=1.0)
    tasks = [asyncio.create_task(harness.stream("coding")) for _ in range(streams)]
    peak = 0
    deadline = time.monotonic() + 10
    while peak < streams and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        peak = max(peak, fake.openai.inflight)
    results = await asyncio.gather(*tasks)
    await harness.close()
    assert peak == streams
    assert all(text == "Hello, world!" for text, _ in results)
