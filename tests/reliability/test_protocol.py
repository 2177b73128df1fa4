"""Parser-level errors (below the middlewares) get the JSON error shape (``app.parser_errors``)."""

from __future__ import annotations

import json
import logging

import pytest

from tests.app.conftest import make_config, make_token

from ._raw import exchange
from .conftest import serve_app


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
            431,
            "request_header_too_large",
        ),
        (b"GET /" + b"u" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431, "request_header_too_large"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n", 400, "bad_http_request"),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400, "bad_http_request"),
    ],
)
async def test_parser_errors_are_json(request_bytes: bytes, status: int, code: str) -> None:
    async with serve_app(make_config()) as server:
        reply = await exchange(server.port, request_bytes, within=5)
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["server"] == "agentsmcp"
    assert len(reply.headers["x-request-id"]) == 32
    error = json.loads(reply.body)["error"]
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"


async def test_an_oversized_credential_is_neither_echoed_nor_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = make_token("oversized") + "A" * 9000
    request = (
        f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    caplog.set_level(logging.DEBUG)
    async with serve_app(make_config()) as server:
        reply = await exchange(server.port, request, within=5)
    assert reply.status == 431
    assert token[:40].encode() not in reply.body
    assert token[:40] not in caplog.text
    assert "Traceback" not in caplog.text


async def test_the_server_keeps_serving_after_parser_errors() -> None:
    async with serve_app(make_config()) as server:
        for _ in range(20):
            reply = await exchange(server.port, b"NOT HTTP\r\n\r\n", within=5)
            assert reply.status == 400
        ok = await exchange(
            server.port,
            b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            within=5,
        )
    assert ok.status == 200


async def test_parser_errors_are_counted_in_the_request_metrics() -> None:
    oversized = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    async with serve_app(make_config()) as server:
        for _ in range(3):
            assert (await exchange(server.port, oversized, within=5)).status == 431
        assert (await exchange(server.port, b"NOT HTTP\r\n\r\n", within=5)).status == 400
        metrics = await exchange(
            server.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", within=5
        )
    text = metrics.body.decode()
    assert 'http_requests_total{method="OTHER",route="unmatched",status="431"} 3.0' in text
    assert 'http_requests_total{method="OTHER",route="unmatched",status="400"} 1.0' in text
