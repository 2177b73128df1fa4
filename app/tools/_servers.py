"""Tool servers from the config: their tool listings (cached with a TTL), argument validation
and calls, and the per-run :class:`Toolbox` an agent loop uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from cachetools import TTLCache

from app.config import AppConfig, ToolServerSettings, tool_server_token_env
from app.observability import tracing
from app.providers import Tool
from app.secret_files import RotatingSecret

from ._client import (
    CLOSE_TIMEOUT_SECONDS,
    Session,
    ToolServerError,
    describe_failure,
    http_client,
)
from ._metrics import OTHER, ToolMetrics

if TYPE_CHECKING:
    import httpx
    from mcp import ClientSession
    from mcp.types import CallToolResult, ListToolsResult

log = structlog.get_logger("agentsmcp.tools")

# What a model may be offered (OpenAI's limit), and the name rule both providers enforce.
MAX_TOOLS_PER_SERVER = 128
MAX_LIST_PAGES = 10
# After a failed tools/list, runs use the last good listing (or go without the server's tools)
# this long before the server is asked again.
LIST_RETRY_SECONDS = 10.0
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True, slots=True)
class ServerTool:
    """A tool of a tool server, as offered to models: ``name`` is the prefixed name the model
    calls, ``remote_name`` the server's."""

    server: str
    remote_name: str
    name: str
    description: str | None
    input_schema: Mapping[str, Any]
    validator: Any = field(compare=False)

    def definition(self) -> Tool:
        return Tool(self.name, self.description, self.input_schema)

    def invalid_arguments(self, arguments: Any) -> str | None:
        """Why ``arguments`` do not fit the input schema (the first few problems), or None."""
        errors = sorted(self.validator.iter_errors(arguments), key=lambda e: list(e.path))[:3]
        if not errors:
            return None
        problems = []
        for error in errors:
            where = "/".join(str(part) for part in error.path) or "arguments"
            problems.append(f"{where}: {error.message[:200]}")
        return "; ".join(problems)


@dataclass(frozen=True, slots=True)
class CallOutput:
    """A tool result as the model sees it: untrusted text, cut to the agent's limit."""

    text: str
    is_error: bool
    chars: int
    truncated: bool


class ToolServer:
    """One configured tool server: its connection pool and its cached tool listing."""

    def __init__(
        self,
        name: str,
        settings: ToolServerSettings,
        token: RotatingSecret | None,
        metrics: ToolMetrics,
    ) -> None:
        self.name = name
        self.settings = settings
        self.http: httpx.AsyncClient = http_client(settings.timeout_seconds, token)
        self._metrics = metrics
        self._cache: TTLCache[str, tuple[ServerTool, ...]] = TTLCache(
            maxsize=1, ttl=max(settings.list_ttl_seconds, 1e-9)
        )
        self._last_good: tuple[ServerTool, ...] | None = None
        self._failure: ToolServerError | None = None
        self._retry_at = 0.0
        self._lock = asyncio.Lock()

    def session(self) -> Session:
        return Session(self.name, self.settings.url, self.http)

    async def tools(self) -> tuple[ServerTool, ...]:
        """The allowed tools, from the cache or a fresh tools/list. A failed refresh keeps the
        last good listing; without one it raises :class:`ToolServerError`. After a failure the
        server is asked again only after :data:`LIST_RETRY_SECONDS`, so a server that hangs
        does not make every run wait for its timeout."""
        cached = self._cache.get("tools")
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._cache.get("tools")
            if cached is not None:
                return cached
            if self._failure is not None and time.monotonic() < self._retry_at:
                if self._last_good is not None:
                    return self._last_good
                raise self._failure
            try:
                listed = await self._list()
            except ToolServerError as exc:
                self._metrics.list_refresh_failures.labels(self.name).inc()
                log.warning("tool list refresh failed", tool_server=self.name, problem=exc.message)
                self._failure = exc
                self._retry_at = time.monotonic() + LIST_RETRY_SECONDS
                if self._last_good is None:
                    raise
                return self._last_good
            self._failure = None
            self._last_good = listed
            if self.settings.list_ttl_seconds > 0:
                self._cache["tools"] = listed
            return listed

    async def _list(self) -> tuple[ServerTool, ...]:
        timeout = self.settings.timeout_seconds
        session = self.session()
        try:
            await session.open(timeout)
            tools: list[Any] = []
            cursor: str | None = None
            for _ in range(MAX_LIST_PAGES):
                page: ListToolsResult = await session.request(_list_page(cursor), timeout)
                tools += page.tools
                cursor = page.nextCursor
                if not cursor or len(tools) >= MAX_TOOLS_PER_SERVER:
                    break
        except ToolServerError:
            raise
        except Exception as exc:
            raise ToolServerError(describe_failure(self.name, exc)) from None
        finally:
            await session.close()
        return self._allowed(tools)

    def _allowed(self, listed: Sequence[Any]) -> tuple[ServerTool, ...]:
        import jsonschema

        allowed = self.settings.allowed_tools
        prefix = self.settings.name_prefix
        tools: list[ServerTool] = []
        for tool in listed:
            if allowed is not None and tool.name not in allowed:
                continue
            name = prefix + tool.name
            schema = tool.inputSchema
            problem = None
            if not 1 <= len(name) <= 64 or not set(name) <= _NAME_CHARS:
                problem = "its name (with name_prefix) is not 1-64 of [A-Za-z0-9_-]"
            else:
                try:
                    jsonschema.validators.validator_for(schema).check_schema(schema)
                except jsonschema.SchemaError:
                    problem = "its inputSchema is not a valid JSON Schema"
            if problem is not None:
                log.warning(
                    "tool skipped", tool_server=self.name, tool=tool.name[:128], problem=problem
                )
                continue
            validator = jsonschema.validators.validator_for(schema)(schema)
            tools.append(
                ServerTool(self.name, tool.name, name, tool.description, schema, validator)
            )
            if len(tools) == MAX_TOOLS_PER_SERVER:
                break
        return tuple(tools)

    async def aclose(self) -> None:
        await self.http.aclose()


def _list_page(cursor: str | None) -> Any:
    async def send(session: ClientSession) -> ListToolsResult:
        from mcp.types import PaginatedRequestParams

        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        return await session.list_tools(params=params)

    return send


class ToolServers:
    """Every configured tool server (their clients live in the app's cleanup context)."""

    def __init__(self, config: AppConfig, metrics: ToolMetrics) -> None:
        # At startup, not in the first run: the SDK takes about a second to import.
        import mcp.client.streamable_http  # noqa: F401

        self.metrics = metrics
        refresh = config.server.secrets_refresh_seconds
        self._servers: dict[str, ToolServer] = {}
        for name, settings in config.tool_servers.items():
            token = None
            if settings.auth == "bearer":
                var = tool_server_token_env(name)
                token = RotatingSecret(
                    config.secret_files.get(var), config.tool_server_token(name), refresh
                )
            self._servers[name] = ToolServer(name, settings, token, metrics)
        # Background work: warm-up listings, and the closing of finished runs' sessions.
        self._closing: set[asyncio.Task[None]] = set()

    def __getitem__(self, name: str) -> ToolServer:
        return self._servers[name]

    def toolbox(
        self,
        agent: str,
        servers: Sequence[str],
        result_chars: int,
        only: Mapping[str, Sequence[str]] | None = None,
    ) -> Toolbox:
        """The tools of a run of ``agent``: ``servers``' tools, for a server in ``only`` just
        those named there (``agents.<name>.tools``)."""
        toolbox = Toolbox(self, agent, [self._servers[name] for name in servers], result_chars)
        toolbox.only = {server: frozenset(names) for server, names in (only or {}).items()}
        return toolbox

    def warm_up(self) -> None:
        """List every server's tools in the background, so the first runs need not wait for
        it; startup and readiness never depend on tool servers."""
        for server in self._servers.values():
            task = asyncio.create_task(self._list_quietly(server))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _list_quietly(server: ToolServer) -> None:
        with contextlib.suppress(ToolServerError):
            await server.tools()

    def close_later(self, session: Session) -> None:
        """Close a run's session in the background (its DELETE need not delay the answer)."""
        task = asyncio.create_task(session.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=CLOSE_TIMEOUT_SECONDS)
        for task in self._closing:
            task.cancel()
        if self._closing:
            await asyncio.wait(set(self._closing))
        for server in self._servers.values():
            await server.aclose()


class Toolbox:
    """The tools of one agent run, and its MCP sessions: one per tool server, opened at the
    first call and closed when the run ends, so runs never share a server-side session."""

    def __init__(
        self, servers: ToolServers, agent: str, tool_servers: list[ToolServer], result_chars: int
    ) -> None:
        self._registry = servers
        self.metrics = servers.metrics
        self._agent = agent
        self._servers = tool_servers
        self._result_chars = result_chars
        self._tools: dict[str, ServerTool] = {}
        self._sessions: dict[str, asyncio.Task[Session]] = {}
        self.unavailable: list[str] = []
        # Server name -> the only tools of it this agent may use (remote names).
        self.only: dict[str, frozenset[str]] = {}

    async def load(self) -> list[Tool]:
        """The tool definitions to offer; a server whose tools cannot be listed is left out
        (named in ``unavailable``) and the run goes on with the others."""
        listings = await asyncio.gather(
            *(server.tools() for server in self._servers), return_exceptions=True
        )
        for server, listing in zip(self._servers, listings, strict=True):
            if isinstance(listing, BaseException):
                if not isinstance(listing, ToolServerError):
                    raise listing
                self.unavailable.append(server.name)
                continue
            only = self.only.get(server.name)
            for tool in listing:
                if only is not None and tool.remote_name not in only:
                    continue
                if tool.name in self._tools:
                    log.warning(
                        "tool name taken by another tool server; set name_prefix",
                        tool=tool.name,
                        tool_server=server.name,
                        agent=self._agent,
                    )
                    continue
                self._tools[tool.name] = tool
        return [tool.definition() for tool in self._tools.values()]

    def tool(self, name: str) -> ServerTool | None:
        return self._tools.get(name)

    async def call(self, tool: ServerTool, arguments: dict[str, Any], seconds: float) -> CallOutput:
        """Call ``tool``; raises :class:`ToolServerError` when the server fails or times out."""
        server = self._registry[tool.server]
        limit = min(seconds, server.settings.timeout_seconds)
        started = time.monotonic()
        sent: list[int] = []

        async def send(session: ClientSession) -> CallToolResult:
            # The id the SDK gives this request (assigned before its first await), so that a
            # call given up on can be cancelled on the server (mcp 1.x never does it itself).
            sent.append(session._request_id)
            return await session.call_tool(tool.remote_name, arguments, meta=_trace_meta())

        session: Session | None = None
        finished = False
        try:
            session = await self._session(server, limit)
            remaining = max(limit - (time.monotonic() - started), 0.001)
            result: CallToolResult = await session.request(send, remaining)
            finished = True
        except ToolServerError as exc:
            if exc.outcome == "timeout":
                # The limit the call was given, not what was left of it at the last step.
                raise ToolServerError(
                    f"tool server {server.name!r} did not answer within {limit:g} s", "timeout"
                ) from None
            raise
        except Exception as exc:
            from mcp import McpError

            if isinstance(exc, McpError):
                # A JSON-RPC error answer: its code only (the message is the server's text).
                raise ToolServerError(
                    f"tool server {server.name!r} refused the call (JSON-RPC error"
                    f" {exc.error.code})"
                ) from None
            raise ToolServerError(describe_failure(server.name, exc)) from None
        finally:
            if not finished and sent and session is not None:
                session.cancel_later(sent[0], "the agent stopped waiting for this call")
        return self._output(result)

    async def _session(self, server: ToolServer, seconds: float) -> Session:
        opening = self._sessions.get(server.name)
        if opening is None or (
            opening.done()
            and (
                opening.cancelled() or opening.exception() is not None or not opening.result().alive
            )
        ):
            opening = asyncio.ensure_future(self._open(server, seconds))
            self._sessions[server.name] = opening
        return await asyncio.shield(opening)

    async def _open(self, server: ToolServer, seconds: float) -> Session:
        session = server.session()
        await session.open(seconds)
        return session

    def _output(self, result: CallToolResult) -> CallOutput:
        parts: list[str] = []
        for block in result.content:
            if block.type == "text":
                parts.append(block.text)
            else:
                parts.append(f"[{block.type} content omitted]")
        if not parts and result.structuredContent is not None:
            parts.append(json.dumps(result.structuredContent, ensure_ascii=False))
        text = "\n".join(parts)
        chars = len(text)
        truncated = chars > self._result_chars
        if truncated:
            text = (
                text[: self._result_chars]
                + f"\n[truncated: {chars - self._result_chars} more characters]"
            )
        return CallOutput(text, bool(result.isError), chars, truncated)

    async def aclose(self) -> None:
        for opening in self._sessions.values():
            if not opening.done():
                opening.cancel()
                continue
            if not opening.cancelled() and opening.exception() is None:
                self._registry.close_later(opening.result())
        self._sessions.clear()


def metric_tool(tool: ServerTool | None) -> tuple[str, str]:
    """(tool_server, tool) labels: a tool the model made up is ("other", "other")."""
    if tool is None:
        return OTHER, OTHER
    return tool.server, tool.remote_name


def _trace_meta() -> dict[str, Any] | None:
    """The current trace context for ``params._meta`` (the tool server's spans join the run's
    trace), or None when tracing is off."""
    if not tracing.enabled():
        return None
    carrier: dict[str, str] = {}
    tracing.inject(carrier)
    return dict(carrier) or None
