from __future__ import annotations

import re

import pytest

from tests.app.conftest import ClientFactory

GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_generates_an_id_when_absent(make_client: ClientFactory) -> None:
    client = await make_client()
    first = (await client.get("/health")).headers["X-Request-ID"]
    second = (await client.get("/health")).headers["X-Request-ID"]
    assert GENERATED.fullmatch(first)
    assert first != second


@pytest.mark.parametrize("value", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "a" * 128])
async def test_echoes_a_sane_id(make_client: ClientFactory, value: str) -> None:
    client = await make_client()
    response = await client.get("/health", headers={"X-Request-ID": value})
    assert response.headers["X-Request-ID"] == value


@pytest.mark.parametrize(
    "value",
    [
        "a" * 129,
        "x" * 4000,
        "abc\tdef",
        "abc def",
        "<script>alert(1)</script>",
        '"quoted"',
        "ünïcödé",
        "id\u2028next",
        "",
    ],
)
async def test_replaces_a_hostile_id(make_client: ClientFactory, value: str) -> None:
    client = await make_client()
    response = await client.get(
        "/health", headers={"X-Request-ID": value.encode().decode("latin-1")}
    )
    echoed = response.headers["X-Request-ID"]
    assert GENERATED.fullmatch(echoed)


async def test_crlf_injection_cannot_split_headers(make_client: ClientFactory) -> None:
    client = await make_client()
    reader, writer = await _raw_connection(client)
    writer.write(
        b"GET /health HTTP/1.1\r\nHost: x\r\n"
        b"X-Request-ID: abc\rSet-Cookie: evil=1\r\nConnection: close\r\n\r\n"
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    assert b"set-cookie" not in head
    assert b"evil" not in head


async def test_request_id_on_error_responses(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.get("/test/whoami", headers={"X-Request-ID": "trace-401"})
    assert response.status == 401
    assert response.headers["X-Request-ID"] == "trace-401"


async def _raw_connection(client: object) -> tuple[object, object]:
    import asyncio

    port = client.port  # type: ignore[attr-defined]
    return await asyncio.open_connection("127.0.0.1", port)


async def test_streams_prepared_by_handlers_carry_the_id_and_no_version_banner(
    aiohttp_client: object,
) -> None:
    from aiohttp import web

    from app.server import create_app
    from tests.app.conftest import make_config

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"chunk")
        return response

    app = create_app(make_config(auth={"enabled": False}))
    app.router.add_get("/test/stream", stream)
    client = await aiohttp_client(app)  # type: ignore[operator]
    response = await client.get("/test/stream", headers={"X-Request-ID": "stream-1"})
    assert await response.read() == b"chunk"
    assert response.headers["X-Request-ID"] == "stream-1"
    assert response.headers["Server"] == "agentsmcp"
