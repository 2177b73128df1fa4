"""A request's JSON body: the media type, size, encoding and number checks every API applies."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from aiohttp import web

from app.app_keys import CONFIG_KEY
from app.contract import errors
from app.errors import (
    JSON_CONTENT_TYPE,
    BadRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)


async def read_json(request: web.Request) -> Any:
    """Read and parse a JSON body: 415 for a non-JSON type, 413 if too large, 400 if malformed."""
    content_type = request.content_type
    if content_type != JSON_CONTENT_TYPE and not (
        content_type.startswith("application/") and content_type.endswith("+json")
    ):
        raise UnsupportedMediaTypeError()
    max_bytes = request.app[CONFIG_KEY].server.max_body_bytes
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLargeError(f"The request body is larger than {max_bytes} bytes.")
    raw = await _read_body(request, max_bytes)
    if not raw.strip():
        raise BadRequestError("The request body is empty; a JSON document is required.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError(
            "The request body is not valid UTF-8.", code=errors.INVALID_JSON
        ) from None
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        if _ESCAPED_SURROGATE.search(text):
            # Lone surrogates ("\ud800") parse but cannot be encoded when sent upstream.
            json.dumps(document, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadRequestError(
            "The JSON body is nested too deeply.", code=errors.INVALID_JSON
        ) from None
    except UnicodeEncodeError:
        raise BadRequestError(
            "The JSON body contains an unpaired UTF-16 surrogate escape.", code=errors.INVALID_JSON
        ) from None
    except ValueError as exc:
        raise BadRequestError(
            f"The request body is not valid JSON: {_json_problem(exc)}", code=errors.INVALID_JSON
        ) from None
    return document


async def _read_body(request: web.Request, max_bytes: int) -> bytearray:
    """The whole body, read as ``request.read()`` does but not kept on the request: that copy
    would live as long as the request, a stream's whole length (bench/FINDINGS.md, section 13)."""
    payload = request.content
    # As request.read(): compressed bodies decompress in larger chunks.
    payload.set_read_chunk_size(max_bytes)
    body = bytearray()
    while chunk := await payload.readany():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise PayloadTooLargeError(f"The request body is larger than {max_bytes} bytes.")
    return body


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number {literal[:20]} is out of range")
    return value


def _json_problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    return str(exc)
