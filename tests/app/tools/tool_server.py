"""A real MCP tool server for the tests: the official SDK's FastMCP over Streamable HTTP.

``python -m tests.app.tools.tool_server PORT TOKEN`` serves on 127.0.0.1:PORT at /mcp and refuses
(401) every request without ``Authorization: Bearer TOKEN``: the tests prove the server's token
reaches the tool server (and nothing else).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated, Any

import uvicorn
from mcp.server.fastmcp import FastMCP
from pydantic import Field

server = FastMCP("agentsmcp-test-tools", host="127.0.0.1")


@server.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@server.tool()
async def slow(seconds: float) -> str:
    """Wait, then answer."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        # A client's notifications/cancelled (or the end of its session) reached this call: the
        # tests read this line. One small local write: blocking is fine here.
        with open(os.environ["TEST_TOOL_CANCEL_LOG"], "a", encoding="utf-8") as log:  # noqa: ASYNC230
            log.write(f"cancelled {seconds:g}\n")
        raise
    return "finally done"


@server.tool()
def fail(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"failed on purpose: {reason}")


@server.tool()
def book(
    city: Annotated[str, Field(pattern=r"^[A-Z][a-z]+$")],
    nights: Annotated[int, Field(ge=1, le=14)],
) -> str:
    """Book a hotel: a capitalized city name and 1 to 14 nights."""
    return f"booked {nights} nights in {city}"


@server.tool()
def big(chars: int) -> str:
    """Answer with that many characters."""
    return "x" * chars


def with_token(app: Any, token: str) -> Any:
    expected = f"Bearer {token}".encode()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    port, token = int(sys.argv[1]), sys.argv[2]
    app = with_token(server.streamable_http_app(), token)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
