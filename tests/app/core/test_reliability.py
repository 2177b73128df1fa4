"""Error mapping, provider configuration at startup, client disconnects and key hygiene."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from app.config import ConfigError
from app.observability.logging import configure_logging
from app.server import create_app
from tests.app.conftest import AgentClientFactory, bearer, make_token
from tests.fakes import Behavior, FakeServer
from tests.fakes.appconfig import ANTHROPIC_KEY, JWT_SECRET, OPENAI_KEY, agent_config
from tests.sse import sse_events

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("behavior", "status", "code"),
    [
        (Behavior(status=401), 502, "upstream_auth_error"),
        (Behavior(status=403), 502, "upstream_auth_error"),
        (Behavior(status=400, message="messages: too long"), 400, "provider_invalid_request"),
        (Behavior(status=404, message="model: not found"), 502, "upstream_error"),
        (Behavior(status=429, retry_after=7), 503, "upstream_rate_limited"),
        (Behavior(status=500), 502, "upstream_unavailable"),
        (Behavior(status=529), 502, "upstream_unavailable"),
        (Behavior(malformed_body=True), 502, "upstream_error"),
    ],
)
@pytest.mark.parametrize("agent", ["coding", "coding-claude"])
async def test_error_mapping(
    make_agent_client: AgentClientFactory,
    fake: FakeServer,
    behavior: Behavior,
    status: int,
    code: str,
    agent: str,
) -> None:
    agents = agent_config(fake).model_dump()["agents"]
    agents["coding"]["fallback"] = None
    client = await make_agent_client(agents=agents, max_retries=0)
    (fake.openai if agent == "coding" else fake.anthropic).default = behavior
    response = await client.post(
        "/v1/chat/completions",
        json={"model": agent, "messages": MESSAGES},
        headers=bearer(make_token()),
    )
    assert response.status == status
    assert response.content_type == "application/json"
    error = (await response.json())["error"]
    assert error["code"] == code
    assert error["type"] == ("invalid_request_error" if status == 400 else "upstream_error")
    if behavior.message:
        assert behavior.message in error["message"]
    if status == 503:
        assert response.headers["Retry-After"] == "7"
    text = await response.text()
    assert OPENAI_KEY not in text
    assert ANTHROPIC_KEY not in text


@pytest.mark.parametrize("stream", [False, True])
async def test_provider_request_errors_are_client_errors_in_the_metrics(
    make_agent_client: AgentClientFactory, fake: FakeServer, stream: bool
) -> None:
    client = await make_agent_client(max_retries=0)
    fake.anthropic.default = Behavior(
        status=400, message=f"prompt is too long: 250000 tokens > 200000 maximum {ANTHROPIC_KEY}"
    )
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "coding-claude", "messages": MESSAGES, "stream": stream},
        headers=bearer(make_token()),
    )
    assert response.status == 400
    body = await response.json()
    assert body["error"]["type"] == "invalid_request_error"
    assert "prompt is too long" in body["error"]["message"]
    assert ANTHROPIC_KEY not in json.dumps(body)
    metrics = await (await client.get("/metrics")).text()
    assert (
        'http_requests_total{method="POST",route="/v1/chat/completions",status="400"} 1.0'
        in metrics
    )
    assert 'status="5' not in metrics


async def test_timeout_is_504(make_agent_client: AgentClientFactory, fake: FakeServer) -> None:
    agents = {"quick": {"provider": "openai", "model": "m", "timeout": 0.3}}
    client = await make_agent_client(agents=agents)
    fake.openai.default = Behavior(header_delay=3)
    response = await client.post(
        "/v1/agents/quick/runs", json={"input": "hi"}, headers=bearer(make_token())
    )
    assert response.status == 504
    assert (await response.json())["error"]["code"] == "upstream_timeout"


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_startup_fails_without_a_used_providers_key(fake: FakeServer, environment: str) -> None:
    config = agent_config(
        fake,
        keys=False,
        environment=environment,
        openai_api_key=OPENAI_KEY + "x" * 40,
        jwt_secret_key=JWT_SECRET,
    )
    with pytest.raises(ConfigError) as caught:
        create_app(config)
    (problem,) = caught.value.problems
    assert problem.startswith("ANTHROPIC_API_KEY: required by agent(s) coding-claude")


def test_unused_provider_needs_no_key(fake: FakeServer) -> None:
    agents = {"only-openai": {"provider": "openai", "model": "gpt-4o"}}
    config = agent_config(
        fake, keys=False, agents=agents, environment="production", openai_api_key=OPENAI_KEY
    )
    create_app(config)


async def test_development_serves_503_for_unconfigured_providers(
    make_agent_client: AgentClientFactory, fake: FakeServer
) -> None:
    client = await make_agent_client(keys=False, openai_api_key=OPENAI_KEY)
    auth = bearer(make_token())
    response = await client.post(
        "/v1/agents/coding-claude/runs", json={"input": "hi"}, headers=auth
    )
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "provider_not_configured"
    agents = (await (await client.get("/v1/agents", headers=auth)).json())["data"]
    assert {a["name"]: a["available"] for a in agents} == {"coding": True, "coding-claude": False}
    ok = await client.post("/v1/agents/coding/runs", json={"input": "hi"}, headers=auth)
    assert ok.status == 200


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "coding", "messages": MESSAGES}),
        ("/v1/chat/completions", {"model": "coding", "messages": MESSAGES, "stream": True}),
        ("/v1/agents/coding/runs", {"input": "hi"}),
        ("/v1/agents/coding/runs", {"input": "hi", "stream": True}),
    ],
)
async def test_a_failed_fallback_names_the_primarys_failure_too(
    make_agent_client: AgentClientFactory, fake: FakeServer, path: str, body: dict[str, Any]
) -> None:
    """As a new user meets it: only OPENAI_API_KEY set and no connection to OpenAI, a chat to
    `coding`, whose fallback `coding-claude` has no Anthropic key."""
    unreachable = f"http://127.0.0.1:{_closed_port()}/v1"
    config = agent_config(fake, keys=False, openai_api_key=OPENAI_KEY, max_retries=0)
    openai = config.providers["openai"].model_copy(update={"api_base": unreachable})
    config = config.model_copy(update={"providers": {**config.providers, "openai": openai}})
    client = await make_agent_client(config)
    response = await client.post(path, json=body, headers=bearer(make_token()))
    if path.endswith("/runs") and body.get("stream"):
        # A streamed run has started before its agent answers: it ends with run.failed.
        assert response.status == 200
        name, data = sse_events(await response.text())[-1]
        assert name == "run.failed"
        error = json.loads(data)["error"]
    else:
        assert response.status == 503
        assert response.content_type == "application/json"
        error = (await response.json())["error"]
    # The last attempt's error, its message led by the primary's failure.
    assert error["code"] == "provider_not_configured"
    primary, fallback = error["message"].split(" Its fallback, agent 'coding-claude', failed too: ")
    assert primary.startswith("Agent 'coding': ")
    assert primary.endswith("(error code: upstream_unavailable)")
    assert fallback.startswith("Agent 'coding-claude' is unavailable: ")
    assert "ANTHROPIC_API_KEY is not set" in fallback
    assert fake.openai.attempts == fake.anthropic.attempts == 0


@pytest.fixture
async def production_server(fake: FakeServer) -> AsyncIterator[str]:
    """Our app behind a plain AppRunner, as ``app.lifecycle.serve`` runs it: aiohttp's
    handler cancellation is off, so only the agent API's own disconnect watch can cancel."""
    agents = {
        "oa": {"provider": "openai", "model": "gpt-4o"},
        "an": {"provider": "anthropic", "model": "claude-sonnet-5-5"},
    }
    runner = web.AppRunner(create_app(agent_config(fake, agents=agents)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.mark.parametrize("agent", ["oa", "an"])
@pytest.mark.parametrize(
    ("path", "stream"),
    [
        ("/v1/chat/completions", False),
        ("/v1/chat/completions", True),
        ("/v1/agents/{agent}/runs", False),
        ("/v1/agents/{agent}/runs", True),
    ],
)
async def test_client_disconnect_cancels_the_upstream_within_a_second(
    production_server: str, fake: FakeServer, agent: str, path: str, stream: bool
) -> None:
    upstream = fake.openai if agent == "oa" else fake.anthropic
    # Slow upstream: a stream that would take 20 s, or a response that takes 20 s to start.
    if stream:
        upstream.default = Behavior(chunks=("tok",) * 100, chunk_delay=0.2)
    else:
        upstream.default = Behavior(header_delay=20)
    body: dict[str, Any] = {"stream": stream}
    if "chat" in path:
        body |= {"model": agent, "messages": MESSAGES}
    else:
        body |= {"input": "hi"}
    url = production_server + path.format(agent=agent)

    async def client_side() -> float:
        # A streaming client leaves after the first bytes; a plain one while waiting.
        async with aiohttp.ClientSession() as session:
            response = await session.post(url, json=body, headers=bearer(make_token()))
            if stream:
                await response.content.readany()
            response.close()
        return time.monotonic()

    if stream:
        left_at = await client_side()
    else:
        task = asyncio.create_task(client_side())
        await asyncio.sleep(0.3)
        task.cancel()
        left_at = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
    disconnect = await upstream.wait_disconnect(within=1.0)
    assert disconnect.at - left_at < 1.0
    assert upstream.attempts == 1
    if stream:
        assert disconnect.chunks_sent < 100


async def test_metrics_endpoint_has_agent_metrics(
    make_agent_client: AgentClientFactory,
) -> None:
    client = await make_agent_client()
    auth = bearer(make_token())
    await client.post("/v1/agents/coding/runs", json={"input": "hi"}, headers=auth)
    await client.post("/v1/agents/coding/runs", json={"input": "hi", "stream": True}, headers=auth)
    text = await (await client.get("/metrics")).text()
    assert (
        'agentsmcp_agent_runs_total{agent="coding",outcome="success",provider="openai"} 2.0' in text
    )
    assert 'agentsmcp_provider_requests_total{outcome="success",provider="openai"} 2.0' in text
    assert (
        'agentsmcp_llm_tokens_total{agent="coding",kind="completion",model="gpt-4o",'
        'provider="openai"} 8.0' in text
    )
    assert 'agentsmcp_time_to_first_token_seconds_count{agent="coding"} 1.0' in text
    assert 'agentsmcp_agent_run_duration_seconds_count{agent="coding"} 2.0' in text
    assert 'agentsmcp_inflight_runs{agent="coding"} 0.0' in text


class _RawRecords(logging.Handler):
    """Every stdlib record, formatted before any redaction."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.__dict__!r}")


@pytest.fixture
def raw_logs() -> Iterator[_RawRecords]:
    handler = _RawRecords()
    yield handler
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


async def test_no_log_line_contains_the_api_keys(
    make_agent_client: AgentClientFactory, fake: FakeServer, raw_logs: _RawRecords
) -> None:
    config = agent_config(fake, max_retries=1, logging={"level": "DEBUG", "format": "json"})
    rendered = io.StringIO()
    configure_logging(config, stream=rendered)
    logging.getLogger().addHandler(raw_logs)
    client = await make_agent_client(config)
    auth = bearer(make_token())
    fake.openai.script(Behavior(status=401, message=f"Incorrect API key provided: {OPENAI_KEY}"))
    fake.anthropic.script(
        Behavior(status=400, message=f"bad request for key {ANTHROPIC_KEY}"),
        Behavior(status=429, retry_after_ms=5),
        Behavior(status=429, retry_after_ms=5),
        Behavior(drop_after=1),
    )
    for agent in ("coding", "coding-claude", "coding-claude", "coding-claude", "coding"):
        for stream in (False, True):
            await client.post(
                f"/v1/agents/{agent}/runs", json={"input": "hi", "stream": stream}, headers=auth
            )
    raw = "\n".join(raw_logs.lines)
    output = rendered.getvalue()
    assert "openai" in raw, "expected the SDKs to log at DEBUG"
    assert "agent run failed" in output
    for text in (raw, output):
        assert OPENAI_KEY not in text
        assert ANTHROPIC_KEY not in text
    # Nothing even reached the redactor: no secret was handed to a logger in the first place.
    assert "[REDACTED]" not in output


async def test_stream_error_event_is_json(
    make_agent_client: AgentClientFactory, fake: FakeServer
) -> None:
    client = await make_agent_client()
    fake.openai.script(Behavior(drop_after=1))
    response = await client.post(
        "/v1/agents/coding/runs", json={"input": "hi", "stream": True}, headers=bearer(make_token())
    )
    events = sse_events(await response.text())
    assert [name for name, _ in events] == ["run.started", "run.delta", "run.failed"]


@pytest.mark.parametrize("route", ["chat", "runs"])
async def test_shutdown_deadline_ends_streams_with_a_final_error(
    make_agent_client: AgentClientFactory, fake: FakeServer, route: str
) -> None:
    from app.app_keys import SHUTDOWN_DEADLINE_KEY

    client = await make_agent_client()
    fake.openai.default = Behavior(chunks=("tok",) * 100, chunk_delay=0.1)
    if route == "chat":
        path, body = "/v1/chat/completions", {"model": "coding", "messages": MESSAGES}
    else:
        path, body = "/v1/agents/coding/runs", {"input": "hi"}
    response = await client.post(path, json={**body, "stream": True}, headers=bearer(make_token()))
    await response.content.readany()
    client.app[SHUTDOWN_DEADLINE_KEY].set()
    events = sse_events(await asyncio.wait_for(response.text(), timeout=2))
    if route == "chat":
        assert events[-1] == (None, "[DONE]")
        error = json.loads(events[-2][1])["error"]
    else:
        assert events[-1][0] == "run.failed"
        error = json.loads(events[-1][1])["error"]
    assert error["code"] == "server_shutting_down"
    await fake.openai.wait_disconnect(within=1.0)


async def test_shutdown_deadline_ends_a_waiting_request_with_503(
    make_agent_client: AgentClientFactory, fake: FakeServer
) -> None:
    from app.app_keys import SHUTDOWN_DEADLINE_KEY

    client = await make_agent_client()
    fake.openai.default = Behavior(header_delay=10)
    request = asyncio.create_task(
        client.post("/v1/agents/coding/runs", json={"input": "hi"}, headers=bearer(make_token()))
    )
    await asyncio.sleep(0.3)
    client.app[SHUTDOWN_DEADLINE_KEY].set()
    response = await asyncio.wait_for(request, timeout=2)
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "server_shutting_down"
    await fake.openai.wait_disconnect(within=1.0)
