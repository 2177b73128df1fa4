"""Fault injection: every upstream failure, for each provider, on both routes, streaming or not,
with and without a fallback agent.

For each case: the status and error body the agent API specifies (docs/http-api.md, "Retries,
timeouts, fallback"), at most ``max_retries + 1`` upstream attempts counted by the fake, the
fallback used exactly when the rules say, the request over within the agents' timeouts plus one
second, the outcome in the metrics, and the server still ready afterwards.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from app.config import AppConfig, parse_config
from tests.app.conftest import bearer, make_token
from tests.fakes import Behavior
from tests.fakes.appconfig import ANTHROPIC_KEY, JWT_SECRET, OPENAI_KEY
from tests.sse import sse_events

from ._faults import FaultServer
from ._process import free_port
from .conftest import LiveServer, serve_app

AGENT_TIMEOUT = 1.5
MAX_RETRIES = 1
FALLBACK_TEXT = "Hello, world!"
PROVIDERS = ("openai", "anthropic")


class Fault(enum.Enum):
    CONNECT_REFUSED = "connect refused"
    STALL_BEFORE_HEADERS = "stall before headers"
    STALL_MID_STREAM = "stall mid-stream"
    HTTP_500 = "500"
    HTTP_502 = "502"
    HTTP_503 = "503"
    HTTP_529 = "529"
    HTTP_429 = "429 with retry-after"
    RESET_MID_STREAM = "reset mid-stream"
    MALFORMED_JSON = "malformed JSON body"
    BAD_SSE_EVENT = "unparseable SSE event"


STATUS_FAULTS = {
    Fault.HTTP_500: 500,
    Fault.HTTP_502: 502,
    Fault.HTTP_503: 503,
    Fault.HTTP_529: 529,
}
# (HTTP status, error code) the agent API answers once the provider has failed this way.
EXPECTED_ERROR = {
    Fault.CONNECT_REFUSED: (502, "upstream_unavailable"),
    Fault.STALL_BEFORE_HEADERS: (504, "upstream_timeout"),
    Fault.STALL_MID_STREAM: (504, "upstream_timeout"),
    **dict.fromkeys(STATUS_FAULTS, (502, "upstream_unavailable")),
    Fault.HTTP_429: (503, "upstream_rate_limited"),
    Fault.RESET_MID_STREAM: (502, "upstream_unavailable"),
    Fault.MALFORMED_JSON: (502, "upstream_error"),
    Fault.BAD_SSE_EVENT: (502, "upstream_error"),
}
# agentsmcp_provider_requests_total{outcome}: how the primary's provider call ended.
PROVIDER_OUTCOME = {
    Fault.CONNECT_REFUSED: "connection",
    Fault.STALL_BEFORE_HEADERS: "timeout",
    Fault.STALL_MID_STREAM: "timeout",
    **dict.fromkeys(STATUS_FAULTS, "overloaded"),
    Fault.HTTP_429: "rate_limit",
    Fault.RESET_MID_STREAM: "connection",
    Fault.MALFORMED_JSON: "bad_response",
    Fault.BAD_SSE_EVENT: "bad_response",
}
RETRYABLE = {fault for fault, (_, code) in EXPECTED_ERROR.items() if code != "upstream_error"}
# Streaming faults that strike after the first text delta reached the client.
AFTER_FIRST_DELTA = {Fault.STALL_MID_STREAM, Fault.RESET_MID_STREAM}


def other(provider: str) -> str:
    return "anthropic" if provider == "openai" else "openai"


def agents() -> dict[str, dict[str, Any]]:
    """``<provider>-alone`` has no fallback; ``<provider>-fb`` falls back to the other one."""
    result: dict[str, dict[str, Any]] = {}
    models = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5"}
    for provider in PROVIDERS:
        base = {"provider": provider, "model": models[provider], "timeout": AGENT_TIMEOUT}
        result[f"{provider}-alone"] = base
        result[f"{provider}-fb"] = {**base, "fallback": f"{other(provider)}-alone"}
    return result


def config_for(fakes: FaultServer, refused: str | None) -> AppConfig:
    def base(provider: str) -> str:
        root = f"http://127.0.0.1:{free_port()}" if provider == refused else fakes.base_url
        return root + "/v1" if provider == "openai" else root

    return parse_config(
        {
            "environment": "development",
            "jwt_secret_key": JWT_SECRET,
            "openai_api_key": OPENAI_KEY,
            "anthropic_api_key": ANTHROPIC_KEY,
            "rate_limit": {"enabled": False},
            "agents": agents(),
            "providers": {
                provider: {"api_base": base(provider), "max_retries": MAX_RETRIES, "timeout": 30}
                for provider in PROVIDERS
            },
        }
    )


def inject(fakes: FaultServer, provider: str, fault: Fault, stream: bool) -> None:
    upstream = fakes.upstream(provider)
    chunks = ("Hel", "lo", " from ", provider)
    if fault is Fault.STALL_BEFORE_HEADERS:
        upstream.default = Behavior(header_delay=60)
    elif fault is Fault.STALL_MID_STREAM:
        if stream:
            upstream.default = Behavior(chunks=chunks)
            upstream.stall_after_first_chunk = True
        else:
            upstream.body_fault = "stall"
    elif fault in STATUS_FAULTS:
        upstream.default = Behavior(status=STATUS_FAULTS[fault])
    elif fault is Fault.HTTP_429:
        upstream.default = Behavior(status=429, retry_after=0.2)
    elif fault is Fault.RESET_MID_STREAM:
        if stream:
            upstream.default = Behavior(chunks=chunks, drop_after=1, drop_mode="reset")
        else:
            upstream.body_fault = "reset"
    elif fault is Fault.MALFORMED_JSON:
        upstream.default = Behavior(malformed_body=True)
    elif fault is Fault.BAD_SSE_EVENT:
        if stream:
            upstream.default = Behavior(chunks=chunks, bad_sse_after=0)
        else:
            upstream.body_fault = "sse"


@dataclass
class Outcome:
    status: int
    agent: str | None
    text: str
    error: dict[str, Any] | None
    headers: dict[str, str]
    elapsed: float


async def call(server: LiveServer, route: str, agent: str, stream: bool) -> Outcome:
    if route == "chat":
        url = f"{server.url}/v1/chat/completions"
        body: dict[str, Any] = {"model": agent, "messages": [{"role": "user", "content": "hi"}]}
    else:
        url = f"{server.url}/v1/agents/{agent}/runs"
        body = {"input": "hi"}
    body["stream"] = stream
    started = time.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=bearer(make_token())) as response,
    ):
        raw = await response.text()
        elapsed = time.monotonic() - started
        headers = dict(response.headers)
        if response.content_type == "application/json":
            document = json.loads(raw)
            if response.status != 200:
                return Outcome(response.status, None, "", document["error"], headers, elapsed)
            if route == "chat":
                text = document["choices"][0]["message"]["content"]
                return Outcome(200, document["model"], text, None, headers, elapsed)
            return Outcome(200, document["agent"], document["output"], None, headers, elapsed)
    assert response.status == 200
    assert response.content_type == "text/event-stream"
    events = sse_events(raw)
    if route == "chat":
        assert events[-1] == (None, "[DONE]"), events
        text, error = "", None
        for _, data in events[:-1]:
            chunk = json.loads(data)
            if "error" in chunk:
                error = chunk["error"]
                continue
            for choice in chunk["choices"]:
                text += choice["delta"].get("content") or ""
        return Outcome(200, headers.get("X-Agentsmcp-Agent"), text, error, headers, elapsed)
    names = [name for name, _ in events]
    assert names[0] == "run.started"
    assert set(names[1:-1]) <= {"run.delta"}, names
    deltas = "".join(json.loads(data)["delta"] for name, data in events if name == "run.delta")
    last_name, last_data = events[-1]
    final = json.loads(last_data)
    if last_name == "run.completed":
        assert final["output"] == deltas
        return Outcome(200, final["agent"], deltas, None, headers, elapsed)
    assert last_name == "run.failed", names
    return Outcome(200, final["agent"], deltas, final["error"], headers, elapsed)


@pytest.fixture
async def fakes() -> AsyncIterator[FaultServer]:
    async with FaultServer() as server:
        yield server


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.slow
@pytest.mark.parametrize("fallback", [False, True], ids=["alone", "with-fallback"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("route", ["chat", "runs"])
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", list(Fault), ids=[fault.value for fault in Fault])
async def test_fault(
    fakes: FaultServer,
    fault: Fault,
    provider: str,
    route: str,
    stream: bool,
    fallback: bool,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    refused = provider if fault is Fault.CONNECT_REFUSED else None
    inject(fakes, provider, fault, stream)
    agent = f"{provider}-fb" if fallback else f"{provider}-alone"
    fallback_agent = f"{other(provider)}-alone"
    primary, secondary = fakes.upstream(provider), fakes.upstream(other(provider))

    async with serve_app(config_for(fakes, refused)) as server:
        outcome = await call(server, route, agent, stream)
        async with aiohttp.ClientSession() as session:
            ready = await session.get(f"{server.url}/health/ready")
            assert ready.status == 200
            metrics = await (await session.get(f"{server.url}/metrics")).text()

    status, code = EXPECTED_ERROR[fault]
    text_sent = stream and fault in AFTER_FIRST_DELTA
    expect_fallback = fallback and fault in RETRYABLE and not text_sent
    where = f"{outcome}"

    # Attempts, as the fakes counted them.
    assert primary.attempts <= MAX_RETRIES + 1, where
    assert primary.attempts >= (0 if refused else 1), where
    if fault in STATUS_FAULTS or fault is Fault.HTTP_429:
        assert primary.attempts == MAX_RETRIES + 1, where
    assert secondary.attempts == (1 if expect_fallback else 0), where

    # Status, body and the agent that answered.
    if expect_fallback:
        assert outcome.status == 200, where
        assert outcome.error is None, where
        assert outcome.agent == fallback_agent, where
        assert outcome.text == FALLBACK_TEXT, where
    else:
        assert outcome.error is not None, where
        assert outcome.error["code"] == code, where
        assert outcome.error["type"] == "upstream_error", where
        # Headers go out with the first delta (chat) or at once (runs stream): then it is an event.
        in_band = stream and (route == "runs" or text_sent)
        assert outcome.status == (200 if in_band else status), where
        assert outcome.text == ("Hel" if text_sent else ""), where
        if fault is Fault.HTTP_429 and not in_band:
            assert outcome.headers["Retry-After"] == "1", where
        assert OPENAI_KEY not in json.dumps(outcome.error), where
        assert ANTHROPIC_KEY not in json.dumps(outcome.error), where

    # Within the agents' timeouts plus one second.
    budget = AGENT_TIMEOUT * (2 if expect_fallback else 1) + 1.0
    assert outcome.elapsed <= budget, where

    # Metrics: the primary's outcome, and the fallback's success.
    runs = "agentsmcp_agent_runs_total"
    assert metric(metrics, runs, agent=agent, provider=provider, outcome=code) == 1.0, metrics
    provider_calls = metric(
        metrics,
        "agentsmcp_provider_requests_total",
        provider=provider,
        outcome=PROVIDER_OUTCOME[fault],
    )
    assert provider_calls == 1.0, metrics
    fallback_runs = metric(
        metrics, runs, agent=fallback_agent, provider=other(provider), outcome="success"
    )
    assert fallback_runs == (1.0 if expect_fallback else 0.0)
    requests_total = metric(
        metrics,
        "http_requests_total",
        method="POST",
        route="/v1/chat/completions" if route == "chat" else "/v1/agents/{name}/runs",
        status=str(outcome.status),
    )
    assert requests_total == 1.0, metrics

    # No key in any log line, the SDKs' DEBUG logs included.
    captured = capsys.readouterr()
    for text in (caplog.text, captured.out, captured.err):
        assert OPENAI_KEY not in text
        assert ANTHROPIC_KEY not in text
        assert JWT_SECRET not in text
