"""Test-only server: the real factory and lifecycle, plus slow routes to hold requests in flight.

Run as ``python -m tests.app.slow_server`` with the usual AGENTSMCP_* environment.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from app.app_keys import SHUTDOWN_DEADLINE_KEY
from app.config import load_config
from app.lifecycle import serve
from app.observability.logging import configure_logging
from app.server import create_app


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("seconds", "3")))
    return web.json_response({"slow": "done"})


async def stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"data: started\n\n")
    deadline = request.app[SHUTDOWN_DEADLINE_KEY]
    while not deadline.is_set():
        try:
            await asyncio.wait_for(deadline.wait(), timeout=0.2)
        except TimeoutError:
            await response.write(b"data: tick\n\n")
    await response.write(b'data: {"error": "server shutting down"}\n\n')
    await response.write_eof()
    return response


def main() -> int:
    config = load_config()
    configure_logging(config)
    app = create_app(config)
    app.router.add_get("/slow", slow)
    app.router.add_get("/stream", stream)
    asyncio.run(serve(app, config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
