"""Server-sent events of the HTTP front doors, and the JSON encoder of their bodies: as little
work per delta as possible."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from app.app_keys import REQUEST_ID_KEY
from app.middlewares import REQUEST_ID_HEADER

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(value: Any) -> str:
    return _dumps(value)


async def open_stream(request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            # nginx and similar proxies must not buffer the stream.
            "X-Accel-Buffering": "no",
            REQUEST_ID_HEADER: request.get(REQUEST_ID_KEY, ""),
            **headers,
        }
    )
    await response.prepare(request)
    return response


def event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {_dumps(data)}\n\n".encode()
