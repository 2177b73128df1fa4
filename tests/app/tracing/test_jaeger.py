"""Traces read back from a real Jaeger v2 (its OTLP receiver and query API): the span tree and
its attributes for each front door's path, and no prompt text in any span by default."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app.observability import tracing
from app.server import create_app
from tests.app.conftest import bearer, make_token
from tests.app.mcp.conftest import mcp_config
from tests.app.tools.conftest import free_port, stop_process
from tests.fakes import Behavior, FakeServer, ScriptedCall
from tests.fakes.appconfig import agent_config

from .conftest import new_traceparent
from .jaeger import ROOT, Jaeger, Span, Trace

PROMPT = "my-private-prompt-text-7f3a"
Client = TestClient[web.Request, web.Application]


async def client_for(aiohttp_client: Any, app: web.Application) -> Client:
    client: Client = await aiohttp_client(app)
    return client


async def post_chat(
    client: Client, *, stream: bool = False, prompt: str = PROMPT
) -> tuple[str, str, Any]:
    """A chat completion of agent ``coding`` continuing a new client trace: (trace ID, the
    client's span ID, the response)."""
    trace_id, client_span, traceparent = new_traceparent()
    body = {"model": "coding", "stream": stream, "messages": [{"role": "user", "content": prompt}]}
    headers = {**bearer(make_token()), "traceparent": traceparent}
    response = await client.post("/v1/chat/completions", json=body, headers=headers)
    await response.read()
    return trace_id, client_span, response


def finished(*names: str) -> Any:
    return lambda trace: all(trace.named(name) for name in names)


def child(trace: Trace, parent: Span, name: str) -> Span:
    (found,) = [span for span in trace.children(parent) if span.name == name]
    return found


def assert_no_prompt(trace: Trace) -> None:
    assert PROMPT not in trace.raw
    assert not any(key.startswith("gen_ai.input") for span in trace.spans for key in span.tags)


def assert_chat(span: Span, provider: str, model: str) -> None:
    tags = span.tags
    assert tags["gen_ai.operation.name"] == "chat"
    assert tags["gen_ai.provider.name"] == provider
    assert tags["gen_ai.request.model"] == model
    assert tags["gen_ai.response.model"]
    assert "stop" in str(tags["gen_ai.response.finish_reasons"])
    assert isinstance(tags["gen_ai.usage.input_tokens"], int)
    assert tags["gen_ai.usage.input_tokens"] == 11
    assert isinstance(tags["gen_ai.usage.output_tokens"], int)
    assert "error.type" not in tags


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_completion_continues_the_clients_trace(
    traced: Jaeger, fake: FakeServer, aiohttp_client: Any, stream: bool
) -> None:
    client = await client_for(aiohttp_client, create_app(agent_config(fake)))
    trace_id, client_span, response = await post_chat(client, stream=stream)
    assert response.status == 200
    assert tracing.flush()

    trace = traced.wait_for(
        trace_id,
        finished("POST /v1/chat/completions", "invoke_agent coding", "chat gpt-4o", "POST"),
    )
    server = trace.one("POST /v1/chat/completions")
    assert server.parent_id == client_span
    assert server.service == "agentsmcp-test"
    assert server.tags["http.response.status_code"] == 200
    invoke = child(trace, server, "invoke_agent coding")
    assert invoke.tags["gen_ai.operation.name"] == "invoke_agent"
    assert invoke.tags["gen_ai.agent.name"] == "coding"
    chat = child(trace, invoke, "chat gpt-4o")
    assert_chat(chat, "openai", "gpt-4o")
    assert chat.tags["gen_ai.request.stream"] is stream
    upstream = child(trace, chat, "POST")
    assert upstream.tags["http.response.status_code"] == 200
    # The provider received the upstream span's context.
    sent = fake.openai.headers[-1]["traceparent"]
    assert sent.split("-")[1:3] == [trace_id, upstream.span_id]
    assert_no_prompt(trace)
    assert "authorization" not in trace.raw.lower()


async def test_probes_are_not_traced(traced: Jaeger, fake: FakeServer, aiohttp_client: Any) -> None:
    client = await client_for(aiohttp_client, create_app(agent_config(fake)))
    trace_id, _, traceparent = new_traceparent()
    for path in ("/health/live", "/health/ready", "/metrics"):
        response = await client.get(path, headers={"traceparent": traceparent})
        await response.read()
    assert tracing.flush()
    await asyncio.sleep(1.0)
    assert traced.trace(trace_id) is None


async def test_failed_provider_falls_back_in_two_chat_spans(
    traced: Jaeger, fake: FakeServer, aiohttp_client: Any
) -> None:
    fake.openai.default = Behavior(status=500)
    client = await client_for(aiohttp_client, create_app(agent_config(fake, max_retries=0)))
    trace_id, _, response = await post_chat(client)
    assert response.status == 200
    assert tracing.flush()

    trace = traced.wait_for(
        trace_id, finished("invoke_agent coding", "chat gpt-4o", "chat claude-sonnet-5-5")
    )
    invoke = trace.one("invoke_agent coding")
    failed = child(trace, invoke, "chat gpt-4o")
    assert failed.tags["error.type"] == "upstream_unavailable"
    assert failed.tags["otel.status_code"] == "ERROR"
    assert child(trace, failed, "POST").tags["http.response.status_code"] == 500
    answered = child(trace, invoke, "chat claude-sonnet-5-5")
    assert_chat(answered, "anthropic", "claude-sonnet-5-5")
    assert "error.type" not in invoke.tags
    assert_no_prompt(trace)


MCP_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


async def test_mcp_tools_call_continues_meta_traceparent(
    traced: Jaeger, fake: FakeServer, aiohttp_client: Any
) -> None:
    client = await client_for(aiohttp_client, create_app(mcp_config(fake)))
    trace_id, client_span, traceparent = new_traceparent()
    call = {
        "jsonrpc": "2.0",
        "id": "c1",
        "method": "tools/call",
        "params": {
            "name": "coding",
            "arguments": {"task": PROMPT},
            "_meta": {**MCP_META, "traceparent": traceparent},
        },
    }
    headers = {
        **bearer(make_token()),
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "coding",
    }
    response = await client.post("/mcp", json=call, headers=headers)
    assert response.status == 200, await response.text()
    await response.read()
    assert tracing.flush()

    trace = traced.wait_for(trace_id, finished("tools/call coding", "chat gpt-4o"))
    mcp = trace.one("tools/call coding")
    assert mcp.parent_id == client_span
    assert mcp.tags["mcp.method.name"] == "tools/call"
    assert mcp.tags["mcp.protocol.version"] == "2026-07-28"
    assert mcp.tags["jsonrpc.request.id"] == "c1"
    assert mcp.tags["gen_ai.tool.name"] == "coding"
    invoke = child(trace, mcp, "invoke_agent coding")
    assert_chat(child(trace, invoke, "chat gpt-4o"), "openai", "gpt-4o")
    assert_no_prompt(trace)


@pytest.fixture
def traced_tool_server(traced: Jaeger) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.app.tracing.traced_tool_server",
            str(port),
            traced.otlp_endpoint,
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, "the traced tool server exited"
            try:
                import socket

                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_process(process)


async def test_tools_agent_run_reaches_the_tool_servers_span(
    traced: Jaeger, traced_tool_server: str, fake: FakeServer, aiohttp_client: Any
) -> None:
    agents = {
        "calc-agent": {
            "type": "tools",
            "provider": "openai",
            "model": "gpt-4o",
            "system_prompt": "Use the tools.",
            "timeout": 20,
            "max_tokens": 256,
            "tool_servers": ["calc"],
        }
    }
    config = agent_config(fake, agents=agents, tool_servers={"calc": {"url": traced_tool_server}})
    fake.openai.script(
        Behavior(chunks=(), tool_calls=(ScriptedCall("add", '{"a": 2, "b": 3}', id="call_1"),)),
        Behavior(chunks=("The sum is 5.",)),
    )
    client = await client_for(aiohttp_client, create_app(config))
    trace_id, _, traceparent = new_traceparent()
    headers = {**bearer(make_token()), "traceparent": traceparent}
    response = await client.post(
        "/v1/agents/calc-agent/runs", json={"input": PROMPT, "stream": False}, headers=headers
    )
    body = await response.json()
    assert response.status == 200, body
    assert body["output"] == "The sum is 5."
    assert tracing.flush()

    trace = traced.wait_for(trace_id, finished("execute_tool add", "tool add"))
    invoke = trace.one("invoke_agent calc-agent")
    chats = [span for span in trace.children(invoke) if span.name == "chat gpt-4o"]
    assert len(chats) == 2
    tool = child(trace, invoke, "execute_tool add")
    assert tool.tags["gen_ai.tool.name"] == "add"
    assert tool.tags["gen_ai.tool.call.id"] == "call_1"
    remote = child(trace, tool, "tool add")
    assert remote.service == "traced-tool-server"
    assert_no_prompt(trace)


async def test_content_capture_is_opt_in(
    traced: Jaeger, fake: FakeServer, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    client = await client_for(aiohttp_client, create_app(agent_config(fake)))
    trace_id, _, response = await post_chat(client)
    assert response.status == 200
    assert tracing.flush()
    trace = traced.wait_for(trace_id, finished("chat gpt-4o"))
    assert PROMPT in trace.one("chat gpt-4o").tags["gen_ai.input.messages"]


async def test_captured_prompts_past_the_collectors_request_limit_all_arrive(
    traced: Jaeger, fake: FakeServer, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Jaeger's OTLP/HTTP receiver, like the Collector's, refuses a request body over 20 MiB: 25
    # prompts of 900 kB exported as one batch would be refused whole (no export before the flush).
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    client = await client_for(aiohttp_client, create_app(agent_config(fake)))
    prompt = "p" * 900_000
    trace_ids = []
    for _ in range(25):
        trace_id, _, response = await post_chat(client, prompt=prompt)
        assert response.status == 200
        trace_ids.append(trace_id)
    assert tracing.flush()
    for trace_id in trace_ids:
        trace = traced.wait_for(trace_id, finished("chat gpt-4o"))
        assert prompt in trace.one("chat gpt-4o").tags["gen_ai.input.messages"]


async def test_a_refusal_is_recorded_on_the_requests_span(
    traced: Jaeger, fake: FakeServer, aiohttp_client: Any
) -> None:
    limits = {"enabled": True, "requests_per_minute": 1, "burst": 1}
    client = await client_for(aiohttp_client, create_app(agent_config(fake, rate_limit=limits)))
    _, _, allowed = await post_chat(client)
    trace_id, _, refused = await post_chat(client)
    assert (allowed.status, refused.status) == (200, 429)
    code = (await refused.json())["error"]["code"]
    assert tracing.flush()
    trace = traced.wait_for(trace_id, finished("POST /v1/chat/completions"))
    server = trace.one("POST /v1/chat/completions")
    assert server.tags["http.response.status_code"] == 429
    assert server.tags["error.type"] == code
    assert not trace.named("invoke_agent coding")


async def test_latency_histograms_carry_exemplars_for_openmetrics(
    traced: Jaeger, fake: FakeServer, aiohttp_client: Any
) -> None:
    client = await client_for(aiohttp_client, create_app(agent_config(fake)))
    trace_id, _, response = await post_chat(client)
    assert response.status == 200
    openmetrics = {"Accept": "application/openmetrics-text; version=1.0.0"}
    scrape = await client.get("/metrics", headers=openmetrics)
    assert scrape.headers["Content-Type"].startswith("application/openmetrics-text")
    lines = (await scrape.text()).splitlines()
    linked = [line for line in lines if f'trace_id="{trace_id}"' in line]
    assert any(line.startswith("http_request_duration_seconds_bucket") for line in linked)
    assert any(line.startswith("agentsmcp_agent_run_duration_seconds_bucket") for line in linked)
    plain = await client.get("/metrics")
    assert plain.headers["Content-Type"].startswith("text/plain")
    assert "trace_id" not in await plain.text()


async def test_a_caller_that_does_not_sample_gets_no_spans(
    traced: Jaeger, fake: FakeServer, aiohttp_client: Any
) -> None:
    client = await client_for(aiohttp_client, create_app(agent_config(fake)))
    trace_id, client_span, _ = new_traceparent()
    body = {"model": "coding", "messages": [{"role": "user", "content": PROMPT}]}
    headers = {**bearer(make_token()), "traceparent": f"00-{trace_id}-{client_span}-00"}
    response = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status == 200
    assert tracing.flush()
    await asyncio.sleep(1.0)
    assert traced.trace(trace_id) is None


@pytest.mark.parametrize("door", ["responses", "a2a"])
async def test_later_front_doors_inherit_the_cores_spans(
    traced: Jaeger, fake: FakeServer, aiohttp_client: Any, door: str
) -> None:
    client = await client_for(aiohttp_client, create_app(agent_config(fake)))
    trace_id, client_span, traceparent = new_traceparent()
    headers = {**bearer(make_token()), "traceparent": traceparent}
    if door == "responses":
        path, body = "/v1/responses", {"model": "coding", "input": PROMPT}
    else:
        path = "/a2a/coding"
        text = {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": PROMPT}]}
        body = {"jsonrpc": "2.0", "id": 7, "method": "SendMessage", "params": {"message": text}}
        headers["A2A-Version"] = "1.0"
    response = await client.post(path, json=body, headers=headers)
    assert response.status == 200, await response.text()
    assert tracing.flush()

    trace = traced.wait_for(trace_id, finished("invoke_agent coding", "chat gpt-4o", "POST"))
    (server,) = [span for span in trace.spans if span.parent_id == client_span]
    assert server.tags["http.response.status_code"] == 200
    invoke = child(trace, server, "invoke_agent coding")
    assert_chat(child(trace, invoke, "chat gpt-4o"), "openai", "gpt-4o")
    if door == "a2a":
        # The A2A context is the conversation.
        context_id = (await response.json())["result"]["task"]["contextId"]
        assert invoke.tags["gen_ai.conversation.id"] == context_id
    assert_no_prompt(trace)
