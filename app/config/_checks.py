"""The rules that tie fields of the config together, checked once the fields are valid alone."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from app.config._environment import tool_server_token_env
from app.config._schema import AgentSettings, ConfigFields

MIN_PRODUCTION_SECRET_BYTES = 32
# What the pinned anthropic SDK sends as anthropic-version (anthropic._constants); a test keeps
# them equal. That version refuses temperature, top_p and top_k.
ANTHROPIC_API_VERSION = "2026-10-21"
TOOLS_AGENT_TYPE = "tools"


def mcp_tool_name(agent_name: str, agent: AgentSettings) -> str:
    """The MCP tool name of an agent (one definition for the config checks and the endpoint)."""
    return agent.mcp.tool_name or re.sub(r"[^A-Za-z0-9_-]", "_", agent_name)


def cross_check_problems(config: ConfigFields) -> list[str]:
    """Every problem between fields, one ``key.path: message`` line each."""
    return [
        *_agent_problems(config),
        *_mcp_tool_problems(config),
        *_tool_server_problems(config),
        *_port_and_rate_limit_problems(config),
        *_auth_problems(config),
    ]


def _agent_problems(config: ConfigFields) -> Iterator[str]:
    agents = config.agents
    for name, agent in agents.items():
        if agent.provider == "anthropic" and agent.temperature is not None:
            yield (
                f"agents.{name}.temperature: the Anthropic Messages API version the server"
                f" uses ({ANTHROPIC_API_VERSION}) does not accept temperature; remove it"
            )
        if agent.fallback is None:
            continue
        fallback = agents.get(agent.fallback)
        if fallback is not None and fallback.type == TOOLS_AGENT_TYPE:
            yield (
                f"agents.{name}.fallback: {agent.fallback!r} is a tools agent, which cannot"
                " stand in for a single call"
            )
        if agent.fallback == name:
            yield f"agents.{name}.fallback: an agent cannot fall back to itself"
        elif agent.fallback not in agents:
            yield f"agents.{name}.fallback: unknown agent {agent.fallback!r}"
        elif _fallback_cycle(agents, name):
            yield f"agents.{name}.fallback: fallback chain loops back to {name!r}"


def _fallback_cycle(agents: Mapping[str, AgentSettings], start: str) -> bool:
    seen = {start}
    current = agents[start].fallback
    while current is not None and current in agents:
        if current in seen:
            return current == start
        seen.add(current)
        current = agents[current].fallback
    return False


def _mcp_tool_problems(config: ConfigFields) -> Iterator[str]:
    if not config.mcp.enabled:
        return
    owners: dict[str, str] = {}
    limit = config.mcp.tool_name_max_length
    for name, agent in config.agents.items():
        if not agent.mcp.expose:
            continue
        tool = mcp_tool_name(name, agent)
        if len(tool) > limit:
            yield (
                f"agents.{name}.mcp.tool_name: the tool name {tool!r} is longer than"
                f" mcp.tool_name_max_length ({limit}); set a shorter one"
            )
        elif tool in owners:
            yield (
                f"agents.{name}.mcp.tool_name: the tool name {tool!r} is already agent"
                f" {owners[tool]!r}'s; set a different one"
            )
        else:
            owners[tool] = name


def _tool_server_problems(config: ConfigFields) -> Iterator[str]:
    for name, agent in config.agents.items():
        for used in agent.tool_servers:
            if used not in config.tool_servers:
                yield f"agents.{name}.tool_servers: unknown tool server {used!r}"
        yield from _agent_tools_problems(config, name, agent)
        if agent.type == TOOLS_AGENT_TYPE and not agent.tool_servers:
            yield f"agents.{name}.tool_servers: a tools agent needs at least one"
        elif agent.type == TOOLS_AGENT_TYPE and agent.fallback is not None:
            yield (
                f"agents.{name}.fallback: tools agents do not fall back (a run's tool calls"
                " cannot be handed to another agent); remove it"
            )
        elif agent.type != TOOLS_AGENT_TYPE and agent.tool_servers:
            yield (
                f"agents.{name}.tool_servers: only agents of type {TOOLS_AGENT_TYPE!r} call"
                " tools; set type: tools or remove tool_servers"
            )
    variables: dict[str, str] = {}
    for name, server in config.tool_servers.items():
        var = tool_server_token_env(name)
        if var in variables:
            yield (
                f"tool_servers.{name}: its secret name {var} is also tool server"
                f" {variables[var]!r}'s; rename one"
            )
        variables[var] = name
        if server.auth == "bearer" and not config.tool_server_token(name):
            yield f"{var}: required while tool_servers.{name}.auth is bearer"


def _agent_tools_problems(config: ConfigFields, name: str, agent: AgentSettings) -> Iterator[str]:
    for server, tools in agent.tools.items():
        if server not in agent.tool_servers:
            yield f"agents.{name}.tools.{server}: {server!r} is not one of the agent's tool_servers"
            continue
        settings = config.tool_servers.get(server)
        allowed = settings.allowed_tools if settings is not None else None
        outside = [tool for tool in tools if allowed is not None and tool not in allowed]
        if outside:
            yield (
                f"agents.{name}.tools.{server}: {', '.join(map(repr, outside))} not in"
                f" tool_servers.{server}.allowed_tools"
            )


def _port_and_rate_limit_problems(config: ConfigFields) -> Iterator[str]:
    if config.metrics.port is not None and config.metrics.port == config.server.port:
        yield f"metrics.port: must differ from server.port ({config.server.port}), or be unset"
    rate_limit = config.rate_limit
    for name in rate_limit.agents:
        if name not in config.agents:
            yield f"rate_limit.agents.{name}: unknown agent {name!r}"
    if rate_limit.enabled and rate_limit.backend == "redis":
        url = config.redis_url.get_secret_value() if config.redis_url else ""
        if not url:
            yield "REDIS_URL: required while rate_limit.backend is redis"
        elif not url.startswith(("redis://", "rediss://", "unix://")):
            yield "REDIS_URL: must start with redis://, rediss:// or unix://"


def _auth_problems(config: ConfigFields) -> Iterator[str]:
    auth, production = config.auth, config.environment == "production"
    if auth.oauth_discovery.enabled and auth.oidc is None:
        yield "auth.oauth_discovery.enabled: needs auth.oidc (the provider to advertise)"
    if production and not auth.enabled:
        yield "auth.enabled: authentication cannot be disabled in production"
    if not auth.enabled:
        return
    secret = config.jwt_secret_key.get_secret_value() if config.jwt_secret_key else ""
    if not secret:
        yield "JWT_SECRET_KEY: required while auth.enabled is true"
    elif production and len(secret.encode()) < MIN_PRODUCTION_SECRET_BYTES:
        yield (
            f"JWT_SECRET_KEY: must be at least {MIN_PRODUCTION_SECRET_BYTES} bytes in production"
        )
