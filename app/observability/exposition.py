"""The Prometheus exposition view (``/metrics``), served on the metrics listener or the API port."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.shared_state import METRICS_KEY


async def metrics(request: web.Request) -> web.Response:
    payload = generate_latest(request.app[METRICS_KEY].registry)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
