"""The Prometheus exposition view (``/metrics``), served on the metrics listener or the API port.

A scraper asking for OpenMetrics gets it, with the latency histograms' exemplars (the trace and
span IDs of an observed request, when tracing is on); others get the Prometheus text format.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from app.app_keys import METRICS_KEY


async def metrics(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    payload = encoder(request.app[METRICS_KEY].registry)
    return web.Response(body=payload, headers={"Content-Type": content_type})
