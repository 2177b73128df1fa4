"""Health and metrics views. None of them calls an upstream provider."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.config import deployed_version
from app.keys import METRICS_KEY, STATE_KEY


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


async def metrics(request: web.Request) -> web.Response:
    payload = generate_latest(request.app[METRICS_KEY].registry)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
