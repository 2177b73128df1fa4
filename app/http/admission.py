"""Agent-run views admitted first: under overload the refusal must cost as little as possible."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from app.core import ADMISSION_KEY

View = Callable[[web.Request], Awaitable[web.StreamResponse]]


def admission_first(view: View) -> View:
    """``view`` run in an admission slot; a request over the limit gets a fast 503 instead."""

    @functools.wraps(view)
    async def admit(request: web.Request) -> web.StreamResponse:
        with request.app[ADMISSION_KEY].admit():
            return await view(request)

    return admit
