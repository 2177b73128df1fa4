"""Run fake upstreams on 127.0.0.1, with a small control API for out-of-process fault injection.

Control endpoints (JSON), for the benchmark and fault-injection runs that use the CLI:

- ``GET /_fake/stats``: attempts, in-flight requests and recorded client disconnects per provider
- ``POST /_fake/{provider}/script``: a list of behaviours used once each by the next requests
- ``PUT /_fake/{provider}/default``: the behaviour used when the script is empty
- ``POST /_fake/reset``: clear scripts, counters and records
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiohttp import web

from ._base import Behavior, FakeUpstream, numbered_chunks
from .anthropic import FakeAnthropic
from .openai import FakeOpenAI

_FAKES_KEY = web.AppKey("fakes", dict[str, FakeUpstream])


def build_app(fakes: dict[str, FakeUpstream]) -> web.Application:
    app = web.Application()
    app[_FAKES_KEY] = fakes
    for fake in fakes.values():
        app.router.add_post(fake.path, fake.handle)
    app.router.add_get("/_fake/stats", _stats)
    app.router.add_post("/_fake/reset", _reset)
    app.router.add_post("/_fake/{provider}/script", _script)
    app.router.add_put("/_fake/{provider}/default", _default)
    return app


async def _stats(request: web.Request) -> web.Response:
    fakes = request.app[_FAKES_KEY]
    return web.json_response({name: fake.stats() for name, fake in fakes.items()})


async def _reset(request: web.Request) -> web.Response:
    for fake in request.app[_FAKES_KEY].values():
        fake.reset()
    return web.json_response({"ok": True})


def _fake(request: web.Request) -> FakeUpstream:
    name = request.match_info["provider"]
    try:
        return request.app[_FAKES_KEY][name]
    except KeyError:
        raise web.HTTPNotFound(text=f"no fake provider {name!r}") from None


async def _behaviors(request: web.Request) -> list[Behavior]:
    data: Any = await request.json()
    items = data if isinstance(data, list) else [data]
    try:
        return [Behavior.from_json(item) for item in items]
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def _script(request: web.Request) -> web.Response:
    fake = _fake(request)
    fake.script(*await _behaviors(request))
    return web.json_response({"ok": True})


async def _default(request: web.Request) -> web.Response:
    fake = _fake(request)
    behaviors = await _behaviors(request)
    if len(behaviors) != 1:
        raise web.HTTPBadRequest(text="the default is exactly one behaviour")
    fake.default = behaviors[0]
    return web.json_response({"ok": True})


class FakeServer:
    """Fake OpenAI and Anthropic upstreams on one loopback port.

    ``openai_url`` is the ``api_base`` for the OpenAI SDK and ``anthropic_url`` the one for the
    Anthropic SDK. Handler cancellation is on, so a client that drops a connection is recorded.
    """

    def __init__(self, port: int = 0, chunk_delay: float = 0.0, chunks: int | None = None) -> None:
        default = Behavior(chunk_delay=chunk_delay)
        if chunks is not None:
            default = Behavior(chunk_delay=chunk_delay, chunks=numbered_chunks(chunks))
        self.openai = FakeOpenAI(default=default)
        self.anthropic = FakeAnthropic(default=default)
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.base_url

    async def start(self) -> None:
        app = build_app({"openai": self.openai, "anthropic": self.anthropic})
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        # A benchmark opens thousands of connections at once: aiohttp's default backlog is 128.
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, backlog=4096)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
