"""What the HTTP front doors answer the same way: JSON bodies, the answering agent's header, a
run's stream relayed as server-sent events, and a stream ended by shutdown or a bug."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog
from aiohttp import web

from app.contract import errors
from app.core import (
    ConnectionWatch,
    RunStream,
    ToolRun,
)
from app.errors import APIError, InternalServerError
from app.providers import ToolCallDelta

from .sse import dumps, open_stream

# Names the agent that answered (a fallback, when it took over).
AGENT_HEADER = "X-Agentsmcp-Agent"
# The header as the OpenAPI document describes it.
ANSWERED_BY = {
    AGENT_HEADER: {"description": "The agent that answered.", "schema": {"type": "string"}}
}

log = structlog.get_logger("agentsmcp.api")


class ServerShuttingDownError(APIError):
    error = errors.SERVER_SHUTTING_DOWN


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(data).encode(), status=status, content_type="application/json", headers=headers
    )


def as_api_error(exc: Exception) -> APIError:
    if isinstance(exc, APIError):
        return exc
    log.exception("agent stream failed", error_type=type(exc).__name__)
    return InternalServerError()


class StreamRenderer(Protocol):
    """A front door's events of a streamed run: the opening, a text delta, a tool-call delta."""

    def start(self) -> bytes: ...

    def text(self, delta: str) -> bytes: ...

    def tool_call(self, delta: ToolCallDelta) -> bytes: ...


R = TypeVar("R", bound=StreamRenderer)


@dataclass(frozen=True, slots=True)
class Relayed(Generic[R]):
    """A relayed stream whose headers and deltas are sent: ``failure`` is the error its last
    event must report; ``client_gone``: the client went away, nothing more can be written."""

    response: web.StreamResponse
    renderer: R
    failure: APIError | None = None
    client_gone: bool = False


async def relay_stream(
    request: web.Request,
    stream: RunStream | ToolRun,
    watch: ConnectionWatch,
    renderer_for: Callable[[str], R],
) -> Relayed[R]:
    """Send ``stream``'s deltas as server-sent events rendered by ``renderer_for(agent)``. A
    failure before the first delta is raised (a plain JSON error with its status)."""
    response: web.StreamResponse | None = None
    renderer: R | None = None
    failure: APIError | None = None
    try:
        async with stream:
            async for item in stream:
                if renderer is None or response is None:
                    # Headers go out with the first delta, so failures before it (fallback
                    # included) are still plain JSON errors with the right status.
                    renderer = renderer_for(stream.agent.name)
                    response = await _open(request, renderer, stream)
                if type(item) is str:
                    await response.write(renderer.text(item))
                elif isinstance(item, ToolCallDelta):
                    await response.write(renderer.tool_call(item))
    except asyncio.CancelledError:
        if not watch.absorb_shutdown():
            raise
        failure = ServerShuttingDownError()
    except ConnectionError:
        # The client went away mid-stream; the upstream is already closed.
        if response is None or renderer is None:
            raise
        return Relayed(response, renderer, client_gone=True)
    except Exception as exc:
        if response is None:
            raise
        failure = as_api_error(exc)
    if response is None or renderer is None:
        if failure is not None:
            raise failure
        # The upstream finished without any output: still a valid stream.
        renderer = renderer_for(stream.agent.name)
        response = await _open(request, renderer, stream)
    return Relayed(response, renderer, failure)


async def _open(
    request: web.Request, renderer: R, stream: RunStream | ToolRun
) -> web.StreamResponse:
    response = await open_stream(request, {AGENT_HEADER: stream.agent.name})
    await response.write(renderer.start())
    return response


async def end_stream(response: web.StreamResponse, tail: bytes) -> None:
    """Write the stream's last events and end it (unless the client has gone)."""
    with contextlib.suppress(ConnectionError):
        await response.write(tail)
        await response.write_eof()
