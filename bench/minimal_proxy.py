"""The benchmark's lower bound: a minimal aiohttp forwarding proxy with one shared ClientSession.

It forwards every POST to the same path on the upstream, passes server-sent event streams
through chunk by chunk, and answers ``GET /health/live`` itself. No auth, no logs, no metrics:
whatever our server costs above this is the price of its features.

    python -m bench.minimal_proxy --port 8101 --upstream http://127.0.0.1:8100
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

UPSTREAM_URL = web.AppKey("upstream_url", str)
UPSTREAM_SESSION = web.AppKey("upstream_session", aiohttp.ClientSession)

# Headers the fake upstreams (and the real providers) need; hop-by-hop headers never pass.
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Authorization", "x-api-key", "anthropic-version")
HEALTH_BODY = b'{"status":"ok"}'


async def forward(request: web.Request) -> web.StreamResponse:
    session = request.app[UPSTREAM_SESSION]
    body = await request.read()
    headers = {
        name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers
    }
    async with session.post(
        request.app[UPSTREAM_URL] + request.path_qs, data=body, headers=headers
    ) as upstream:
        content_type = upstream.headers.get("Content-Type", "application/octet-stream")
        if upstream.content_type != "text/event-stream":
            return web.Response(
                status=upstream.status,
                body=await upstream.read(),
                content_type=None,
                headers={"Content-Type": content_type},
            )
        response = web.StreamResponse(
            status=upstream.status,
            headers={"Content-Type": content_type, "Cache-Control": "no-cache"},
        )
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def health_live(request: web.Request) -> web.Response:
    return web.Response(body=HEALTH_BODY, content_type="application/json")


def create_app(upstream_url: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM_URL] = upstream_url.rstrip("/")

    async def upstream_session(app: web.Application) -> AsyncIterator[None]:
        # No pool limit (aiohttp's default is 100 connections): streams in flight are not capped.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            app[UPSTREAM_SESSION] = session
            yield

    app.cleanup_ctx.append(upstream_session)
    app.router.add_get("/health/live", health_live)
    app.router.add_post("/{path:.*}", forward)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:8100")
    args = parser.parse_args(argv)
    web.run_app(
        create_app(args.upstream),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        backlog=2048,  # as our server's (app/lifecycle.py LISTEN_BACKLOG)
    )


if __name__ == "__main__":
    main()
