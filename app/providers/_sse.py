"""Server-sent events of a provider's streamed answer, decoded from its body bytes.

The SDKs decode a stream line by line in Python and then run each event through their generic
stream class; that was about 11 us of CPU per event, against under 4 us here (bench/FINDINGS.md,
section 14). The rules are the SSE specification's, as the SDKs' own decoder applies them:
lines end in LF, CRLF or CR; a blank line dispatches the event; ``:`` starts a comment; a
field's value loses one leading space; several ``data`` lines join with LF; an event is
dispatched only when it has an event name or data, and an unterminated last event is dropped.
``id`` and ``retry`` are not kept: no provider stream uses them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx2
import orjson

# An event's name (None when it has none) and its data.
ServerSentEvent = tuple[str | None, str]

# An event's data as JSON: orjson takes about a third of json.loads's CPU per event (0.7 against
# 2.5 us for an OpenAI chunk, bench/FINDINGS.md section 14). Its JSONDecodeError is json's; it
# refuses as malformed what json would pass on (NaN, lone surrogates, nesting past 1,024) and
# reads integers beyond 64 bits as floats: no provider's stream holds any of them.
event_json = orjson.loads

_FAST_PREFIX = b"data: "
# How long the rest of a body after its last event may take (the OpenAI SDK's drain timeout).
DRAIN_SECONDS = 0.1


async def server_sent_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[ServerSentEvent]:
    """``(event name or None, data)`` of each event in a body's ``chunks``."""
    pending = b""
    # A chunk ended in CR: an LF starting the next one belongs to that line end.
    after_cr = False
    async for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        after_cr = chunk.endswith(b"\r")
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pending += chunk
        if b"\n\n" not in pending:
            continue
        *blocks, pending = pending.split(b"\n\n")
        for block in blocks:
            # Nearly every provider event is one "data: ..." line: no field parsing for it.
            if block.startswith(_FAST_PREFIX) and b"\n" not in block:
                yield None, block[6:].decode()
                continue
            sse = _parse(block.decode())
            if sse is not None:
                yield sse


def _parse(block: str) -> ServerSentEvent | None:
    event: str | None = None
    data: list[str] = []
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value or None
        elif name == "data":
            data.append(value)
    if event is None and not data:
        return None
    return event, "\n".join(data)


async def drain(events: AsyncIterator[ServerSentEvent]) -> None:
    """Read what follows a stream's last event (its end), so that the connection can be reused,
    for at most :data:`DRAIN_SECONDS`: an upstream that keeps the body open after its end costs
    the connection, never the answer (as the OpenAI SDK drains after ``[DONE]``)."""
    with contextlib.suppress(TimeoutError, ValueError, httpx2.TransportError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in events:
                pass
