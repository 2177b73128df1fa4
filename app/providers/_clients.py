"""Which provider clients the configured agents need, and building them."""

from __future__ import annotations

import logging

import httpx2

from app.config import PROVIDER_KEY_ENV, AppConfig, ProviderName, ProviderSettings
from app.observability import tracing

from ._base import ChatProvider, SDKAdapter

# The SDKs' own default (DEFAULT_CONNECTION_LIMITS in both).
SDK_POOL_CONNECTIONS = 1000


def used_providers(config: AppConfig) -> dict[ProviderName, list[str]]:
    """Provider name -> the agents that use it, in config order."""
    used: dict[ProviderName, list[str]] = {}
    for name, agent in config.agents.items():
        used.setdefault(agent.provider, []).append(name)
    return used


def missing_keys(config: AppConfig) -> list[str]:
    """One ``ENV_VAR: message`` line per provider that agents use but that has no API key."""
    problems = []
    for provider, agents in used_providers(config).items():
        if not config.provider_key(provider):
            problems.append(
                f"{PROVIDER_KEY_ENV[provider]}: required by agent(s) {', '.join(agents)} "
                f"(provider {provider}) but not set"
            )
    return problems


def deprecated_models(config: AppConfig) -> list[str]:
    """One line per agent whose Anthropic model the SDK lists as deprecated."""
    notes: list[str] = []
    if "anthropic" not in used_providers(config):
        return notes
    from ._anthropic import end_of_life

    for name, agent in config.agents.items():
        if agent.provider == "anthropic" and (date := end_of_life(agent.model)):
            notes.append(f"agents.{name}.model: {agent.model} reaches end-of-life on {date}")
    return notes


def _build_provider(
    provider: ProviderName, key: str, settings: ProviderSettings, max_connections: int
) -> ChatProvider:
    # The SDKs' aiohttp transport (with their timeouts and redirect policy): it was
    # faster than the default httpx2 transport in every case bench/transport_compare.py measures.
    # It opens an aiohttp session, so it must be built inside the running loop (cleanup_ctx).
    # The SDKs are imported here, only for providers in use (see app/providers/__init__.py).
    adapter: type[SDKAdapter]
    if provider == "openai":
        from ._openai import OpenAIProvider as adapter
    else:
        from ._anthropic import AnthropicProvider as adapter
    # The SDKs' pool stops at 1,000 connections: a second, hidden limit below a larger
    # server.max_inflight_runs, where streams would queue for a connection (bench.streaming).
    http_client = adapter.sdk.DefaultAioHttpClient(
        limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=100)
    )
    if tracing.enabled():
        http_client._transport = TracedTransport(http_client._transport)
    return adapter(
        api_key=key,
        api_base=settings.api_base,
        max_retries=settings.max_retries,
        timeout=settings.timeout,
        http_client=http_client,
    )


class TracedTransport(httpx2.AsyncBaseTransport):
    """Each upstream request as a CLIENT span under the current one (the model call's
    ``chat`` span), its ``traceparent`` sent on to the provider. Neither headers nor bodies
    are recorded."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        span = tracing.start_span(
            request.method,
            {
                "http.request.method": request.method,
                "server.address": url.host,
                "server.port": url.port or (443 if url.scheme == "https" else 80),
                # Without the query (string work: url.copy_with parses the URL again).
                "url.full": str(url).partition("?")[0],
            },
            kind="CLIENT",
        )
        if span is None:
            return await self._inner.handle_async_request(request)
        tracing.inject(request.headers, span)
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException as exc:
            tracing.end_span(span, tracing.error_type(exc))
            raise
        span.set_attribute("http.response.status_code", response.status_code)
        tracing.end_span(span, str(response.status_code) if response.status_code >= 400 else None)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def upstream_connections(config: AppConfig) -> int:
    """Connections each provider's pool may open: one per admitted run, as the SDKs allow at
    least (a run waits on one model call at a time)."""
    return max(SDK_POOL_CONNECTIONS, config.server.max_inflight_runs)


def build_providers(config: AppConfig) -> dict[ProviderName, ChatProvider]:
    """One client per provider that an agent uses and that has a key."""
    if config.logging.level != "DEBUG":
        # httpx2 logs every upstream request at INFO: a second line per request next to our
        # access log, doubling log volume and its CPU (bench/FINDINGS.md, section 1).
        logging.getLogger("httpx2").setLevel(logging.WARNING)
    providers: dict[ProviderName, ChatProvider] = {}
    for provider in used_providers(config):
        key = config.provider_key(provider)
        if not key:
            continue
        providers[provider] = _build_provider(
            provider, key, config.provider(provider), upstream_connections(config)
        )
    return providers
