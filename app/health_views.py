"""Health views. None of them calls an upstream provider."""

from __future__ import annotations

from aiohttp import web

from app.app_keys import STATE_KEY
from app.config import deployed_version


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response(
        {
            "status": "ok",
            "version": deployed_version(),
            "uptime_seconds": round(state.uptime_seconds, 3),
        }
    )


async def live(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if state.ready:
        return web.json_response({"status": "ready"})
    return web.json_response(
        {"status": "not_ready", "reason": state.not_ready_reason},
        status=503,
        headers={"Retry-After": "1"} if state.not_ready_reason == "starting" else None,
    )
