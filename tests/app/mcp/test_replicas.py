"""Two server processes (``python -m app``, as Kubernetes runs them) behind a round-robin proxy:
one MCP session whose requests alternate between them works end to end (sessions hold no server
state)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import hdrs, web

from tests.reliability._process import fake_control, fake_upstreams, running_server, server_config

from .conftest import mcp_session

# Hop-by-hop headers a proxy must not forward (RFC 9110, section 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "host",
        "content-length",
    }
)


@pytest.fixture
async def round_robin(tmp_path: Path) -> AsyncIterator[tuple[str, list[str]]]:
    """A proxy that sends each request to the next of two server processes, streaming answers
    through; yields its /mcp URL and the log of which server got each request."""
    with contextlib.ExitStack() as stack:
        fakes = stack.enter_context(fake_upstreams(tmp_path))
        fake_control(
            fakes, "PUT", "/_fake/openai/default", {"chunks": ["one ", "two"], "chunk_delay": 0.05}
        )
        replicas = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            config = server_config(fakes, mcp={"progress_interval_seconds": 0.05})
            replicas.append(stack.enter_context(running_server(config, tmp_path / name)))
        async for proxied in _proxy([replica.url for replica in replicas]):
            yield proxied


async def _proxy(replicas: list[str]) -> AsyncIterator[tuple[str, list[str]]]:
    turn = itertools.cycle(range(len(replicas)))
    served: list[str] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        index = next(turn)
        served.append(f"{index}:{request.method}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with session.request(
            request.method,
            replicas[index] + request.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP},
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        proxy = web.Application()
        proxy.router.add_route(hdrs.METH_ANY, "/mcp", forward)
        runner = web.AppRunner(proxy, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        try:
            yield f"http://{host}:{port}/mcp", served
        finally:
            await runner.cleanup()


@pytest.mark.slow
async def test_a_session_alternating_between_replicas_works(
    round_robin: tuple[str, list[str]],
) -> None:
    url, served = round_robin
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with mcp_session(url) as session:
        for _ in range(2):
            tools = (await session.list_tools()).tools
            assert {tool.name for tool in tools} == {"coding", "coding-claude"}
            result = await session.call_tool(
                "coding", {"task": "hi"}, progress_callback=on_progress
            )
            assert not result.isError
            assert result.structuredContent is not None
            assert result.structuredContent["output"] == "one two"
            await session.send_ping()
    posts = [entry for entry in served if entry.endswith(":POST")]
    # initialize, notifications/initialized, then list/call/ping twice: both replicas served.
    assert len(posts) >= 8
    assert {entry.split(":")[0] for entry in posts} == {"0", "1"}
    assert seen
