"""A streamed answer's body bytes, read from aiohttp directly when the SDK's aiohttp transport
carries it.

Two costs per received packet go away (bench/FINDINGS.md, section 14): httpx2's byte-stream
layers above aiohttp's payload, and aiohttp's read timeout (the SDK's ``timeout``, aiohttp's
``sock_read``), which aiohttp re-arms on every packet: a timer cancelled and another scheduled,
about 3 us per paced chunk. :class:`BodyReadTimeout` keeps that timeout with one timer per stream
that looks for progress a few times per period; it fires no earlier than aiohttp's would, and at
most a quarter period later. Errors are mapped by the transport's own function, so a stream read
here fails with the same httpx2 exceptions as through httpx2. A compressed body, or another
transport, is read through httpx2 as before.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager

import aiohttp
import httpx2
from aiohttp.client_proto import ResponseHandler

# How often per timeout period the timer looks for progress (and how late, at most, it fires).
CHECKS_PER_PERIOD = 4

ErrorMapping = Callable[[], AbstractContextManager[None]]


def body_chunks(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The bytes of ``response``'s body as they arrive (decoded, if httpx2 reads them)."""
    source = aiohttp_source(response)
    if source is None:
        return response.aiter_bytes()
    return _read(*source)


def aiohttp_source(response: httpx2.Response) -> tuple[aiohttp.ClientResponse, ErrorMapping] | None:
    """The SDK transport's aiohttp response under ``response`` and the transport's error
    mapping, or None when httpx2 must read the body (another transport, or a body to decode)."""
    if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
        return None
    # httpx2 wraps the transport's stream (the SDKs' vendored AiohttpResponseStream).
    transport_stream = getattr(response.stream, "_stream", None)
    aiohttp_response = getattr(transport_stream, "_aiohttp_response", None)
    module = sys.modules.get(type(transport_stream).__module__)
    map_errors = getattr(module, "map_aiohttp_exceptions", None)
    if not isinstance(aiohttp_response, aiohttp.ClientResponse) or map_errors is None:
        return None
    return aiohttp_response, map_errors


async def _read(
    aiohttp_response: aiohttp.ClientResponse, map_errors: ErrorMapping
) -> AsyncIterator[bytes]:
    timeout = BodyReadTimeout.take_over(aiohttp_response)
    try:
        with map_errors():
            async for chunk in aiohttp_response.content.iter_any():
                yield chunk
    finally:
        if timeout is not None:
            timeout.close()


class BodyReadTimeout:
    """aiohttp's read timeout of one response body, checked by one timer: the body fails as
    aiohttp fails it once no byte has arrived for the timeout, except while reading is paused
    (by backpressure: then it is not the peer's delay, and aiohttp stops the clock too)."""

    __slots__ = ("_content", "_handle", "_loop", "_period", "_progress", "_protocol", "_seen")

    @classmethod
    def take_over(cls, aiohttp_response: aiohttp.ClientResponse) -> BodyReadTimeout | None:
        connection = aiohttp_response.connection
        protocol = connection.protocol if connection is not None else None
        seconds = protocol.read_timeout if protocol is not None else None
        if protocol is None or not seconds:
            return None
        # From here on aiohttp no longer re-arms a timer per packet (the one armed by the last
        # packet stays, and is cancelled by the next).
        protocol.read_timeout = None
        return cls(protocol, aiohttp_response.content, seconds)

    def __init__(self, protocol: ResponseHandler, content: aiohttp.StreamReader, seconds: float):
        self._loop = asyncio.get_running_loop()
        self._protocol = protocol
        self._content = content
        self._period = seconds / CHECKS_PER_PERIOD
        self._seen = content.total_bytes
        self._progress: float | None = self._loop.time()
        self._handle = self._loop.call_later(self._period, self._check)

    def _check(self) -> None:
        protocol, content = self._protocol, self._content
        if content.is_eof() or content.exception() is not None or protocol.transport is None:
            return
        now = self._loop.time()
        if protocol._reading_paused or protocol._buffer_paused:
            # The clock restarts when reading resumes: at the first check after it.
            self._progress = None
        elif self._progress is None or content.total_bytes != self._seen:
            self._seen = content.total_bytes
            self._progress = now
        elif now - self._progress >= self._period * CHECKS_PER_PERIOD:
            protocol._on_read_timeout()
            return
        self._handle = self._loop.call_at(now + self._period, self._check)

    def close(self) -> None:
        self._handle.cancel()
