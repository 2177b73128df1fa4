"""Fixtures for the reliability suite: our app served as production serves it
(``app.parser_errors``'s runner, no aiohttp handler cancellation) and fake upstreams."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from app.config import AppConfig
from app.parser_errors import AppRunner
from app.server import create_app


@dataclass
class LiveServer:
    app: web.Application
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def serve_app(config: AppConfig) -> AsyncIterator[LiveServer]:
    """Serve ``create_app(config)`` on a loopback port with the production runner."""
    app = create_app(config)
    runner = AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield LiveServer(app, host, port)
    finally:
        await runner.cleanup()
