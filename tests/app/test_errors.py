from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from app.request_body import read_json
from app.server import create_app
from tests.app.conftest import ClientFactory, bearer, make_config

JSON = {"Content-Type": "application/json"}


def assert_error_shape(body: Any, *, type_: str, code: str | None = None) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["type"] == type_
    if code is not None:
        assert error["code"] == code


async def test_valid_json_round_trips(make_client: ClientFactory, token: str) -> None:
    client = await make_client()
    response = await client.post(
        "/test/echo", data=json.dumps({"a": [1, 2]}), headers={**JSON, **bearer(token)}
    )
    assert response.status == 200
    assert await response.json() == {"received": {"a": [1, 2]}}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b'{"a": 1', "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b'{"a": NaN}', "invalid_json"),
        (b'{"a": -Infinity}', "invalid_json"),
        (b'{"a": 1e999999}', "invalid_json"),
        (b'{"a": "\\ud800"}', "invalid_json"),
        (b'{"a": "\\uDFFF x"}', "invalid_json"),
        (b"", "bad_request"),
        (b"   ", "bad_request"),
    ],
)
async def test_malformed_json_is_400(
    make_client: ClientFactory, token: str, body: bytes, code: str
) -> None:
    client = await make_client()
    response = await client.post("/test/echo", data=body, headers={**JSON, **bearer(token)})
    assert response.status == 400
    assert_error_shape(await response.json(), type_="invalid_request_error", code=code)


async def test_deeply_nested_json_is_400_not_500(make_client: ClientFactory, token: str) -> None:
    client = await make_client()
    body = "[" * 10_000 + "]" * 10_000
    response = await client.post("/test/echo", data=body, headers={**JSON, **bearer(token)})
    assert response.status == 400
    assert_error_shape(await response.json(), type_="invalid_request_error", code="invalid_json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_wrong_content_type_is_415(
    make_client: ClientFactory, token: str, content_type: str
) -> None:
    client = await make_client()
    headers = {**bearer(token), "Content-Type": content_type}
    response = await client.post("/test/echo", data=b"{}", headers=headers)
    assert response.status == 415
    assert_error_shape(
        await response.json(), type_="invalid_request_error", code="unsupported_media_type"
    )


async def test_json_with_charset_is_accepted(make_client: ClientFactory, token: str) -> None:
    client = await make_client()
    headers = {**bearer(token), "Content-Type": "application/json; charset=utf-8"}
    response = await client.post("/test/echo", data=b"[1]", headers=headers)
    assert response.status == 200


async def test_body_is_not_kept_on_the_request(aiohttp_client: Any, token: str) -> None:
    """A streaming request lives as long as its stream: a copy of the body kept on it would too
    (bench/FINDINGS.md, section 13)."""

    async def echo_then_read_again(request: web.Request) -> web.Response:
        document = await read_json(request)
        return web.json_response({"received": document, "kept": len(await request.read())})

    app = create_app(make_config())
    app.router.add_post("/test/read-again", echo_then_read_again)
    client = await aiohttp_client(app)
    body = json.dumps({"text": "x" * 4096})
    response = await client.post("/test/read-again", data=body, headers={**JSON, **bearer(token)})
    assert response.status == 200
    assert await response.json() == {"received": {"text": "x" * 4096}, "kept": 0}


async def test_oversized_body_is_413(make_client: ClientFactory, token: str) -> None:
    client = await make_client(make_config(server={"max_body_bytes": 2048}))
    body = json.dumps({"text": "x" * 4096})
    response = await client.post("/test/echo", data=body, headers={**JSON, **bearer(token)})
    assert response.status == 413
    assert_error_shape(
        await response.json(), type_="invalid_request_error", code="payload_too_large"
    )


async def test_oversized_chunked_body_is_413(make_client: ClientFactory, token: str) -> None:
    client = await make_client(make_config(server={"max_body_bytes": 2048}))

    async def chunks() -> Any:
        for _ in range(8):
            yield b"x" * 1024

    response = await client.post("/test/echo", data=chunks(), headers={**JSON, **bearer(token)})
    assert response.status == 413
    assert_error_shape(
        await response.json(), type_="invalid_request_error", code="payload_too_large"
    )


async def test_unhandled_exception_is_500_without_internals(
    make_client: ClientFactory, token: str
) -> None:
    client = await make_client()
    response = await client.get("/test/boom", headers=bearer(token))
    assert response.status == 500
    text = await response.text()
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert "Traceback" not in text
    assert_error_shape(json.loads(text), type_="server_error", code="internal_error")


async def test_405_is_in_error_shape_with_allow(make_client: ClientFactory, token: str) -> None:
    client = await make_client()
    response = await client.delete("/health", headers=bearer(token))
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert_error_shape(
        await response.json(), type_="invalid_request_error", code="method_not_allowed"
    )


async def test_404_is_in_error_shape(make_client: ClientFactory, token: str) -> None:
    client = await make_client()
    response = await client.get("/v1/does-not-exist", headers=bearer(token))
    assert response.status == 404
    assert_error_shape(await response.json(), type_="not_found_error", code="not_found")


@pytest.mark.parametrize(
    ("cls_name", "status"),
    [
        ("BadRequestError", 400),
        ("AuthenticationError", 401),
        ("PermissionDeniedError", 403),
        ("NotFoundError", 404),
        ("MethodNotAllowedError", 405),
        ("PayloadTooLargeError", 413),
        ("UnsupportedMediaTypeError", 415),
        ("RateLimitError", 429),
        ("InternalServerError", 500),
    ],
)
async def test_every_api_error_renders_in_openai_shape(
    aiohttp_client: Any, cls_name: str, status: int
) -> None:
    from app import errors

    error_class = getattr(errors, cls_name)

    async def fail(request: web.Request) -> web.Response:
        raise error_class(headers={"X-Extra": "1"})

    app = create_app(make_config(auth={"enabled": False}))
    app.router.add_get("/test/fail", fail)
    client = await aiohttp_client(app)
    response = await client.get("/test/fail")
    assert response.status == status
    assert response.headers["X-Extra"] == "1"
    assert response.content_type == "application/json"
    assert_error_shape(await response.json(), type_=error_class.type, code=error_class.default_code)


async def test_raised_aiohttp_errors_keep_a_chosen_message_but_5xx_text_never_leaks(
    aiohttp_client: Any,
) -> None:
    from aiohttp import web

    from app.server import create_app

    async def bad(request: web.Request) -> web.Response:
        raise web.HTTPBadRequest(text="field 'x' is required")

    async def broken(request: web.Request) -> web.Response:
        raise web.HTTPInternalServerError(text="connection to db-internal:5432 refused")

    app = create_app(make_config(auth={"enabled": False}))
    app.router.add_get("/test/bad", bad)
    app.router.add_get("/test/broken", broken)
    client = await aiohttp_client(app)
    response = await client.get("/test/bad")
    assert response.status == 400
    assert (await response.json())["error"]["message"] == "field 'x' is required"
    response = await client.get("/test/broken")
    assert response.status == 500
    text = await response.text()
    assert "db-internal" not in text
    assert_error_shape(json.loads(text), type_="server_error", code="internal_error")


async def test_random_bodies_never_cause_a_500(make_client: ClientFactory, token: str) -> None:
    import random

    rng = random.Random(20261124)
    valid = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hé"}]})
    bodies: list[bytes] = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))]
    for _ in range(150):
        data = bytearray(valid.encode())
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        bodies.append(bytes(data))
        bodies.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))
    bodies += [b"[" * 50_000, b'{"a":' * 5000, b"\x00", b'"\\ud800"', b"1e999999"]
    client = await make_client(make_config(rate_limit={"enabled": False}))
    for body in bodies:
        response = await client.post("/test/echo", data=body, headers={**JSON, **bearer(token)})
        assert response.status in {200, 400}, body
        if response.status == 400:
            assert_error_shape(await response.json(), type_="invalid_request_error")
        else:
            await response.read()


async def test_paired_surrogate_escapes_are_fine(make_client: ClientFactory, token: str) -> None:
    client = await make_client()
    response = await client.post(
        "/test/echo", data=b'{"emoji": "\\ud83d\\ude00"}', headers={**JSON, **bearer(token)}
    )
    assert response.status == 200
    assert await response.json() == {"received": {"emoji": "\U0001f600"}}
