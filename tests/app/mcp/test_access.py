"""Access rules and the audit trail on ``/mcp``: the client named in the audit event, and a
server with auth disabled (no principal: only agents without rules are usable)."""

from __future__ import annotations

from typing import Any

import aiohttp
import structlog.testing

from app.core import AUDIT_LOGGER
from tests.fakes import FakeServer
from tests.fakes.appconfig import DEFAULT_AGENTS

from .conftest import ServerFactory, mcp_config
from .test_http import META, modern, read_message, request

GUARDED = {**DEFAULT_AGENTS["coding-claude"], "access": [{"subjects": ["alice"]}]}
AGENTS = {"coding": {**DEFAULT_AGENTS["coding"], "fallback": None}, "guarded": GUARDED}


async def call(
    http: aiohttp.ClientSession, url: str, tool: str, meta: dict[str, Any]
) -> dict[str, Any]:
    body = request("tools/call", {"name": tool, "arguments": {"task": "hi"}, "_meta": meta})
    async with http.post(url, json=body, headers=modern("tools/call", tool)) as response:
        return await read_message(response)


async def test_the_audit_event_names_the_client_of_the_meta(
    start_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    server = await start_server(agents=AGENTS)
    client_info = {"io.modelcontextprotocol/clientInfo": {"name": "some-host", "version": "1.2"}}
    with structlog.testing.capture_logs() as logs:
        answer = await call(http, server.mcp, "coding", {**META, **client_info})
        await call(http, server.mcp, "coding", META)
    assert answer["result"]["isError"] is False
    audits = [event for event in logs if event.get("logger") == AUDIT_LOGGER]
    assert audits[0]["client"] == "some-host/1.2"
    # Without it: the User-Agent.
    assert audits[1]["client"].startswith("Python/")
    assert [(event["front_door"], event["subject"], event["outcome"]) for event in audits] == [
        ("mcp", "alice", "ok"),
        ("mcp", "alice", "ok"),
    ]


async def test_without_auth_only_agents_without_rules_are_listed_or_called(
    fake: FakeServer, start_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    server = await start_server(mcp_config(fake, agents=AGENTS, auth={"enabled": False}))
    listing = request("tools/list", {"_meta": META})
    async with http.post(server.mcp, json=listing, headers=modern("tools/list")) as response:
        tools = (await read_message(response))["result"]["tools"]
    assert [tool["name"] for tool in tools] == ["coding"]
    with structlog.testing.capture_logs() as logs:
        refused = await call(http, server.mcp, "guarded", META)
        unknown = await call(http, server.mcp, "guardex", META)
    assert refused["error"]["message"].replace("guarded", "@") == unknown["error"][
        "message"
    ].replace("guardex", "@")
    assert refused["error"]["code"] == unknown["error"]["code"]
    audits = [event for event in logs if event.get("logger") == AUDIT_LOGGER]
    assert [(event["subject"], event["reason"]) for event in audits] == [
        (None, "no_token"),
        (None, "unknown_agent"),
    ]
