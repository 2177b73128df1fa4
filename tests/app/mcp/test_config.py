"""The MCP settings and the tool catalogue built from them."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from app.config import ConfigError, McpSettings, parse_config
from app.mcp import ToolCatalogue

BASE: dict[str, Any] = {"environment": "development", "auth": {"enabled": False}}


def config(agents: dict[str, dict[str, Any]], **sections: Any) -> Any:
    return parse_config({**BASE, "agents": agents, **sections})


def agent(**fields: Any) -> dict[str, Any]:
    return {"provider": "openai", "model": "gpt-4o", **fields}


def test_defaults_keep_progress_well_under_ten_seconds() -> None:
    settings = McpSettings()
    assert settings.enabled
    assert settings.progress_interval_seconds <= 5
    with pytest.raises(ValueError, match="progress_interval_seconds"):
        McpSettings(progress_interval_seconds=10)


def test_tool_names_come_from_agent_names() -> None:
    catalogue = ToolCatalogue(
        config({"research.v2": agent(), "coding": agent(description="Writes code.")})
    )
    tools = {tool.name: tool for tool in catalogue}
    assert set(tools) == {"research_v2", "coding"}
    assert tools["research_v2"].agent == "research.v2"
    assert tools["coding"].descriptor["description"] == "Writes code."
    assert "research.v2" in tools["research_v2"].descriptor["description"]


def test_hidden_agents_are_not_tools() -> None:
    catalogue = ToolCatalogue(config({"a": agent(), "b": agent(mcp={"expose": False})}))
    assert [tool.name for tool in catalogue] == ["a"]


def test_colliding_tool_names_are_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as raised:
        config({"research.v2": agent(), "research_v2": agent()})
    assert raised.value.problems == [
        "agents.research_v2.mcp.tool_name: the tool name 'research_v2' is already agent"
        " 'research.v2''s; set a different one"
    ]
    # Fixed by naming one tool, or by hiding one agent.
    config({"research.v2": agent(), "research_v2": agent(mcp={"tool_name": "research_v2b"})})
    config({"research.v2": agent(), "research_v2": agent(mcp={"expose": False})})


def test_too_long_tool_names_are_a_config_error() -> None:
    name = "a" * 49
    with pytest.raises(ConfigError) as raised:
        config({name: agent()})
    assert raised.value.problems[0].startswith(f"agents.{name}.mcp.tool_name: ")
    config({name: agent(mcp={"tool_name": "short"})})
    config({name: agent()}, mcp={"tool_name_max_length": 64})
    config({name: agent()}, mcp={"enabled": False})


@pytest.mark.parametrize("bad", ["has space", "dot.ted", "", "x" * 65, "ünï"])
def test_tool_name_override_is_restricted(bad: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config({"a": agent(mcp={"tool_name": bad})})
    assert raised.value.problems[0].startswith("agents.a.mcp.tool_name: ")


def test_unknown_mcp_keys_are_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        config({}, mcp={"progress_interval": 1})
    assert raised.value.problems == ["mcp.progress_interval: unknown key"]


@pytest.mark.parametrize(
    "arguments",
    [
        {"task": "hi"},
        {"task": "hi", "max_tokens": 256},
        {"task": "hi", "max_tokens": 257},
        {"task": "hi", "max_tokens": 0},
        {"task": "hi", "max_tokens": 12.0},
        {"task": "hi", "max_tokens": 1.5},
        {"task": ""},
        {"task": "   "},
        {"task": 7},
        {},
        {"task": "hi", "extra": 1},
        {"task": "hi", "context": [{"role": "assistant", "content": "earlier"}]},
        {"task": "hi", "context": [{"role": "system", "content": "x"}]},
        {"task": "hi", "context": [{"role": "user", "content": " "}]},
        {"task": "hi", "context": [{"role": "user"}]},
        {"task": "hi", "context": [{"role": "user", "content": "x"}] * 101},
    ],
)
def test_the_input_schema_hosts_see_is_the_rule_calls_are_held_to(
    arguments: dict[str, Any],
) -> None:
    (tool,) = ToolCatalogue(config({"a": agent(max_tokens=256)}))
    schema = tool.descriptor["inputSchema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    by_schema = jsonschema.Draft202012Validator(schema).is_valid(arguments)
    by_server = not isinstance(tool.arguments(arguments), str)
    assert by_schema == by_server
