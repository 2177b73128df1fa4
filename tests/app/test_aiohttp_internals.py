"""The aiohttp internals app/parser_errors.py relies on (``server_internals`` and the
``AppRunner._make_server`` hook). If aiohttp changes them, these fail with a message naming
what changed, instead of malformed requests quietly getting aiohttp's plain-text errors."""

from __future__ import annotations

import asyncio
import inspect

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from app.parser_errors import AppRunner, JSONErrorRequestHandler, JSONErrorServer, server_internals
from app.server import create_app
from tests.app.conftest import make_config

CHANGED = "aiohttp internals changed: update app/parser_errors.py (server_internals, AppRunner)"


def test_the_runner_hook_still_exists() -> None:
    hook = getattr(web.AppRunner, "_make_server", None)
    assert hook is not None, CHANGED
    assert inspect.iscoroutinefunction(hook), CHANGED
    parameters = inspect.signature(RequestHandler.__init__).parameters
    assert {"manager", "loop"} <= set(parameters), CHANGED


async def test_the_server_keeps_loop_and_handler_kwargs_where_we_read_them() -> None:
    server = web.Server(lambda request: web.Response(), access_log=None, keepalive_timeout=7.5)
    assert isinstance(getattr(server, "_loop", None), asyncio.AbstractEventLoop), CHANGED
    loop, kwargs = server_internals(server)
    assert loop is asyncio.get_running_loop(), CHANGED
    assert kwargs == {"access_log": None, "keepalive_timeout": 7.5}, CHANGED


async def test_our_runner_serves_through_the_json_error_handler() -> None:
    runner = AppRunner(create_app(make_config()), access_log=None, keepalive_timeout=7.5)
    await runner.setup()
    try:
        server = runner.server
        assert isinstance(server, JSONErrorServer), CHANGED
        kwargs = server_internals(server)[1]
        assert kwargs["keepalive_timeout"] == 7.5, CHANGED
        assert kwargs["access_log"] is None, CHANGED
        handler = server()
        assert isinstance(handler, JSONErrorRequestHandler), CHANGED
    finally:
        await runner.cleanup()
