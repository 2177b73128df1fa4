"""``agents.<name>.tools``: a tools agent limited to some of a tool server's tools, on top of
the server's own ``allowed_tools``; and the audit event naming the tools a run called."""

from __future__ import annotations

import pytest
import structlog

from app.config import ConfigError, parse_config
from app.core import AUDIT_LOGGER
from tests.fakes import Behavior, FakeServer

from .conftest import StartServer, ToolProcess, calc_server, tools_agent, tools_config
from .test_agent_loop import calls, offered, run


async def test_an_agent_gets_only_its_tools_of_a_shared_server(
    fake: FakeServer, tool_server: ToolProcess, start_server: StartServer
) -> None:
    servers = {"calc": calc_server(tool_server, allowed_tools=["add", "slow"], name_prefix="c_")}
    agents = {
        "narrow": tools_agent("openai", ["calc"], tools={"calc": ["add"]}),
        "wide": tools_agent("openai", ["calc"]),
    }
    server = await start_server(tools_config(fake, servers, agents))
    fake.openai.script(
        calls(("call_1", "c_add", '{"a": 2, "b": 3}'), ("call_2", "c_slow", "{}")),
        Behavior(chunks=("5",)),
        Behavior(chunks=("hi",)),
    )
    with structlog.testing.capture_logs() as logs:
        body = await run(server, "narrow", False, text="PROMPT-MARKER add 2 and 3")
        await run(server, "wide", False)
    assert offered("openai", fake.openai.requests[0]) == ["c_add"]
    assert offered("openai", fake.openai.requests[2]) == ["c_add", "c_slow"]
    outcomes = {c["name"]: c["outcome"] for c in body["steps"][0]["tool_calls"]}
    assert outcomes == {"c_add": "ok", "c_slow": "rejected"}
    audits = [event for event in logs if event.get("logger") == AUDIT_LOGGER]
    assert [(event["agent"], event["tools"]) for event in audits] == [
        ("narrow", ["c_add"]),
        ("wide", []),
    ]
    assert "PROMPT-MARKER" not in repr(audits)


@pytest.mark.parametrize(
    ("tools", "problem"),
    [
        (
            {"other": ["add"]},
            "agents.a.tools.other: 'other' is not one of the agent's tool_servers",
        ),
        ({"calc": ["book"]}, "agents.a.tools.calc: 'book' not in tool_servers.calc.allowed_tools"),
        ({"calc": []}, "agents.a.tools.calc: List should have at least 1 item after validation"),
    ],
)
def test_agent_tools_are_checked_against_the_servers(
    tools: dict[str, list[str]], problem: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            {
                "jwt_secret_key": "s",
                "tool_servers": {
                    "calc": {"url": "https://tools.example.com/mcp", "allowed_tools": ["add"]},
                    "other": {"url": "https://other.example.com/mcp"},
                },
                "agents": {"a": tools_agent("openai", ["calc"], tools=tools)},
            }
        )
    assert len(error.value.problems) == 1
    assert error.value.problems[0].startswith(problem)
