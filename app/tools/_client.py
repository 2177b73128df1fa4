"""MCP client sessions with one tool server, over the official SDK's Streamable HTTP client.

The SDK runs a session inside anyio task groups, which must be entered and left by one task, and
a transport failure tears its task group down. So every session is owned by a task of its own
(:class:`Session`); callers only send requests through it, each raced against the owner's end
and bounded by a timeout, so a server that is slow, down or answers garbage costs a bounded wait
and a :class:`ToolServerError`, never a hang or a crash of the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from app.secret_files import RotatingSecret

if TYPE_CHECKING:
    import httpx
    from mcp import ClientSession

log = structlog.get_logger("agentsmcp.tools")
# The SDK logs a tool server's unparsable answer with a traceback quoting it (ERROR): the failure
# is logged once by this module instead, naming the server, without the server's bytes.
logging.getLogger("mcp.client.streamable_http").setLevel(logging.CRITICAL)

T = TypeVar("T")
# How long closing a session (its DELETE) may take before its task is cancelled.
CLOSE_TIMEOUT_SECONDS = 2.0


class ToolServerError(Exception):
    """A tool server failed. ``message`` is fit for the model and the logs: it names the server,
    never its token or the server's own error text. ``outcome`` is ``error`` or ``timeout``."""

    def __init__(self, message: str, outcome: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.outcome = outcome


def http_client(timeout: float, token: RotatingSecret | None) -> httpx.AsyncClient:
    """The connection pool of one tool server. A file-backed token is re-read when it rotates.
    The SDK's transport follows a redirect only within the URL's origin, whatever the client's
    ``follow_redirects``: requests (and the token) go to the configured origin only."""
    import httpx

    class Bearer(httpx.Auth):
        def __init__(self, secret: RotatingSecret) -> None:
            self._secret = secret
            self._last: str | None = secret.value()

        def auth_flow(
            self, request: httpx.Request
        ) -> Generator[httpx.Request, httpx.Response, None]:
            value = self._secret.value() or self._last
            self._last = value
            if value:
                request.headers["Authorization"] = f"Bearer {value}"
            yield request

    return httpx.AsyncClient(
        auth=Bearer(token) if token is not None else None,
        timeout=httpx.Timeout(timeout),
    )


def describe_failure(server: str, exc: BaseException) -> str:
    """What went wrong, from the exception's type alone (its text may quote the server)."""
    import httpx

    for leaf in _leaves(exc):
        if isinstance(leaf, httpx.HTTPStatusError):
            return f"tool server {server!r} answered HTTP {leaf.response.status_code}"
        if isinstance(leaf, httpx.TimeoutException):
            return f"tool server {server!r} did not answer in time"
        if isinstance(leaf, httpx.ConnectError):
            return f"tool server {server!r} cannot be reached"
        if isinstance(leaf, httpx.TransportError):
            return (
                f"tool server {server!r} broke the connection or answered something other than HTTP"
            )
    return f"tool server {server!r} answered something that is not MCP"


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    leaves = [exc]
    if exc.__cause__ is not None:
        leaves += _leaves(exc.__cause__)
    return leaves


class Session:
    """One MCP session (initialize, then requests), owned by its own task until :meth:`close`."""

    def __init__(self, server: str, url: str, http: httpx.AsyncClient) -> None:
        self.server = server
        self._url = url
        self._http = http
        loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[ClientSession] = loop.create_future()
        self._stop = asyncio.Event()
        self._failure: str | None = None
        self._notices: set[asyncio.Task[None]] = set()
        self._task = asyncio.create_task(self._own(), name=f"mcp-session-{server}")

    async def _own(self) -> None:
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        try:
            async with (
                streamable_http_client(self._url, http_client=self._http) as (read, write, _),
                ClientSession(read, write, message_handler=self._on_message) as session,
            ):
                await session.initialize()
                if not self._ready.done():
                    self._ready.set_result(session)
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if self._failure is None:
                self._failure = describe_failure(self.server, exc)
            log.warning(
                "tool server session failed", tool_server=self.server, problem=self._failure
            )
        finally:
            if not self._ready.done():
                self._ready.set_exception(
                    ToolServerError(
                        self._failure or f"tool server {self.server!r} closed the session"
                    )
                )
                # Retrieved here so an unawaited failure is not reported as never retrieved.
                self._ready.exception()

    async def _on_message(self, message: Any) -> None:
        # The SDK hands transport problems (a body that is not JSON-RPC, an unexpected content
        # type) to the message handler and leaves the request waiting: end the session instead.
        if isinstance(message, Exception):
            self._failure = f"tool server {self.server!r} answered something that is not MCP"
            self._stop.set()

    @property
    def alive(self) -> bool:
        return not self._task.done() and not self._stop.is_set()

    async def open(self, seconds: float) -> None:
        """Wait for the handshake; raise :class:`ToolServerError` if it fails or takes longer."""
        stopped = asyncio.ensure_future(self._stop.wait())
        waiters: set[asyncio.Future[Any]] = {self._ready, self._task, stopped}
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopped.cancel()
        if self._ready in done and self._ready.exception() is None:
            return
        if not done:
            await self.close()
            raise ToolServerError(
                f"tool server {self.server!r} did not complete the MCP handshake within"
                f" {seconds:g} s",
                "timeout",
            )
        await self.close()
        raise ToolServerError(self._failure or f"tool server {self.server!r} closed the session")

    async def request(self, send: Callable[[ClientSession], Awaitable[T]], seconds: float) -> T:
        """``send(session)``, raced against the session's end and bounded by ``seconds``."""
        session = self._ready.result()
        call = asyncio.ensure_future(send(session))
        try:
            done, _ = await asyncio.wait(
                {call, self._task}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not call.done():
                call.cancel()
                await asyncio.wait({call})
        if call in done:
            return call.result()
        if self._task in done:
            raise ToolServerError(
                self._failure or f"tool server {self.server!r} closed the session"
            )
        raise ToolServerError(
            f"tool server {self.server!r} did not answer within {seconds:g} s", "timeout"
        )

    def cancel_later(self, request_id: int, reason: str) -> None:
        """Send ``notifications/cancelled`` for a request given up on, in the background (the
        session stays open until its run ends, so the notice can still go out)."""
        if not self.alive:
            return
        task = asyncio.create_task(self._cancel_request(request_id, reason))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def _cancel_request(self, request_id: int, reason: str) -> None:
        from mcp import types

        notice = types.ClientNotification(
            types.CancelledNotification(
                params=types.CancelledNotificationParams(requestId=request_id, reason=reason)
            )
        )
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self._ready.result().send_notification(notice)

    async def close(self) -> None:
        """End the session (its DELETE gets :data:`CLOSE_TIMEOUT_SECONDS`); never raises."""
        if self._notices:
            await asyncio.wait(set(self._notices), timeout=CLOSE_TIMEOUT_SECONDS)
        self._stop.set()
        if self._task.done():
            return
        if not self._ready.done():
            # Still in the handshake: nothing to end politely.
            await self._cancel()
            return
        done, _ = await asyncio.wait({self._task}, timeout=CLOSE_TIMEOUT_SECONDS)
        if not done:
            await self._cancel()

    async def _cancel(self) -> None:
        self._task.cancel()
        # asyncio.wait: the task's own end (cancelled or failed) is not raised here, while a
        # cancellation of the caller still is.
        await asyncio.wait({self._task})
