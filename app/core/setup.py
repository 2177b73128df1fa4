"""Starting the agent core: the startup checks, its metrics and admission, and the cleanup context
that owns the provider clients, the tool servers and the runner.

Wiring (two lines, in ``app.server.create_app``): ``setup_core(app, config)`` (before any front
door's setup) and ``app.cleanup_ctx.append(agent_runner_ctx)``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import structlog
from aiohttp import web

from app.app_keys import CONFIG_KEY, METRICS_KEY
from app.config import PROVIDER_KEY_ENV, AppConfig, ConfigError, ProviderName
from app.providers import ChatProvider, build_providers, deprecated_models, missing_keys
from app.secret_files import RotatingSecret
from app.tools import TOOL_METRICS_KEY, ToolMetrics, ToolServers

from .admission import Admission
from .keys import ADMISSION_KEY, AGENT_METRICS_KEY, RUNNER_KEY
from .metrics import AgentMetrics
from .registry import AgentRegistry
from .runner import AgentRunner

log = structlog.get_logger("agentsmcp.agents")


def setup_core(app: web.Application, config: AppConfig) -> None:
    """Check the agents' providers and create the core's metrics and admission. A provider that
    agents use without an API key is a configuration error, except in development where those
    agents answer 503."""
    problems = missing_keys(config)
    if problems and config.environment != "development":
        raise ConfigError(problems)
    for problem in problems:
        log.warning("provider not configured; its agents will answer 503", problem=problem)
    for note in deprecated_models(config):
        log.warning("deprecated model", problem=note)
    app[AGENT_METRICS_KEY] = AgentMetrics(app[METRICS_KEY].registry)
    app[TOOL_METRICS_KEY] = ToolMetrics(app[METRICS_KEY].registry)
    app[ADMISSION_KEY] = Admission(config.server.max_inflight_runs, app[METRICS_KEY].registry)


async def agent_runner_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open one client per provider and one connection pool per tool server on startup, and
    close them on cleanup."""
    config = app[CONFIG_KEY]
    providers = build_providers(config)
    tool_servers = ToolServers(config, app[TOOL_METRICS_KEY]) if config.tool_servers else None
    refresher = asyncio.create_task(refresh_provider_keys(config, providers))
    try:
        registry = AgentRegistry(config.agents, providers)
        app[RUNNER_KEY] = AgentRunner(
            registry, app[AGENT_METRICS_KEY], tool_servers, config.auth.default_access
        )
        if tool_servers is not None:
            tool_servers.warm_up()
        yield
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
        for provider in providers.values():
            await provider.aclose()
        if tool_servers is not None:
            await tool_servers.aclose()


async def refresh_provider_keys(
    config: AppConfig, providers: Mapping[ProviderName, ChatProvider]
) -> None:
    """Hand a rotated API key file's new value to its client, every secrets refresh interval.
    A key file that goes missing or empty keeps the client on its last key."""
    refresh = config.server.secrets_refresh_seconds
    watched = {
        name: RotatingSecret(config.secret_files[PROVIDER_KEY_ENV[name]], None, 0)
        for name in providers
        if PROVIDER_KEY_ENV[name] in config.secret_files
    }
    if not watched:
        return
    current = {name: config.provider_key(name) for name in watched}
    while True:
        await asyncio.sleep(refresh)
        for name, secret in watched.items():
            value = secret.value()
            if value and value != current[name]:
                providers[name].rotate_key(value)
                current[name] = value
                log.info("provider API key rotated", provider=name)
