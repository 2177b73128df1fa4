"""The tool catalogue: one tool per exposed agent, its schemas generated from pydantic models.

The same model validates a call's arguments and is the tool's ``inputSchema`` (with ``$ref``s
inlined: several hosts do not resolve them), so the schema a host sees is the rule it is held to.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, create_model

from app.config import AgentSettings, AppConfig, mcp_tool_name
from app.core.wire import Usage
from app.providers import ChatMessage, FinishReason

MAX_CONTEXT_MESSAGES = 100


class ContextMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1, pattern=r"\S")


class ToolInput(BaseModel):
    """A call's arguments. Each tool narrows ``max_tokens`` to its agent's limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = Field(
        min_length=1,
        pattern=r"\S",
        description="What the agent should do: the full request, self-contained.",
    )
    context: list[ContextMessage] = Field(
        default_factory=list,
        max_length=MAX_CONTEXT_MESSAGES,
        description="Earlier turns of the conversation with this agent, oldest first.",
    )
    max_tokens: int | None = None

    def messages(self) -> list[ChatMessage]:
        history = [ChatMessage(message.role, message.content) for message in self.context]
        return [*history, ChatMessage("user", self.task)]


class ToolOutput(BaseModel):
    """The agent's answer and how it was produced."""

    output: str = Field(description="The agent's answer.")
    agent: str = Field(description="The agent that answered (its fallback, if it took over).")
    model: str = Field(description="The model that answered.")
    finish_reason: FinishReason
    usage: Usage


def _input_model(max_tokens: int) -> type[ToolInput]:
    bounds = {"type": "integer", "minimum": 1, "maximum": max_tokens}
    description = f"Most tokens the answer may use (at most {max_tokens}, the default)."
    # Optional by being absent from "required"; null is still accepted (some clients send it),
    # but the schema shows one plain type: several hosts mishandle anyOf with null.
    limited = Annotated[
        int | None,
        Field(ge=1, le=max_tokens),
        WithJsonSchema({**bounds, "description": description}),
    ]
    return create_model("ToolInput", __base__=ToolInput, max_tokens=(limited, None))


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema (2020-12) with every ``$ref`` inlined, no ``$defs`` and no null
    defaults."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**definitions[ref.removeprefix("#/$defs/")], **rest})
            # A null default says nothing a host can use (and contradicts "type": "integer").
            return {
                key: inline(value)
                for key, value in node.items()
                if not (key == "default" and value is None)
            }
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    inlined.setdefault("properties", {})
    return inlined


OUTPUT_SCHEMA = json_schema(ToolOutput)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    agent: str
    input_model: type[ToolInput]
    descriptor: dict[str, Any]

    def arguments(self, arguments: Mapping[str, Any] | None) -> ToolInput | str:
        """The validated arguments, or a message naming the problem (a tool execution error
        the model can correct, per the MCP tools specification)."""
        try:
            return self.input_model.model_validate(dict(arguments or {}))
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False, include_input=False)[:5]:
                where = ".".join(str(part) for part in error["loc"]) or "arguments"
                message = "unknown argument" if error["type"] == "extra_forbidden" else error["msg"]
                problems.append(f"{where}: {message}")
            return (
                f"Invalid arguments for tool {self.name!r}: {'; '.join(problems)}. Required:"
                " 'task' (a string); optional: 'context' (messages with role user or assistant"
                " and content), 'max_tokens' (an integer)."
            )


def _description(name: str, settings: AgentSettings) -> str:
    if settings.description.strip():
        return settings.description
    return (
        f"Ask the {name!r} agent ({settings.type}, {settings.provider} {settings.model}):"
        " give it a self-contained task and get its answer."
    )


def _tool(agent_name: str, settings: AgentSettings) -> Tool:
    name = mcp_tool_name(agent_name, settings)
    model = _input_model(settings.max_tokens)
    descriptor = {
        "name": name,
        "title": agent_name,
        "description": _description(agent_name, settings),
        "inputSchema": json_schema(model),
        "outputSchema": OUTPUT_SCHEMA,
        # An agent only writes text: it changes nothing, and it talks to an outside model.
        "annotations": {
            "title": agent_name,
            "readOnlyHint": True,
            "destructiveHint": False,
            "idempotentHint": False,
            "openWorldHint": True,
        },
    }
    return Tool(name=name, agent=agent_name, input_model=model, descriptor=descriptor)


class ToolCatalogue:
    """The exposed agents' tools, by tool name (name rules are checked by the config)."""

    def __init__(self, config: AppConfig) -> None:
        self._tools = {
            tool.name: tool
            for tool in (
                _tool(name, settings)
                for name, settings in config.agents.items()
                if settings.mcp.expose
            )
        }
        self.descriptors = [tool.descriptor for tool in self._tools.values()]

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def descriptors_of(self, agents: Collection[str]) -> list[dict[str, Any]]:
        """The descriptors of the tools of ``agents`` (those a caller may use)."""
        return [tool.descriptor for tool in self._tools.values() if tool.agent in agents]

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools
