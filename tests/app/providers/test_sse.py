"""Our stream decoder against the SDKs' own: the same events from the same bytes, however the
bytes are cut into chunks. The reference is each SDK's ``SSEDecoder`` (a private module: this
test fails if it moves, which is when to recheck the rules it encodes).

One documented difference is left out of the comparison: ``id`` and ``retry`` fields. The SDKs
dispatch an event with empty data for a block holding only them (and, once an ``id`` was seen,
for every further blank line); we dispatch nothing. No provider sends either field, and the
OpenAI SDK's stream class would fail on such an event (empty data is not JSON)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import anthropic._streaming
import openai._streaming
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.providers._sse import server_sent_events

REFERENCE_DECODERS = (openai._streaming.SSEDecoder, anthropic._streaming.SSEDecoder)

LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])
# Text with the characters that matter to the format: colons, spaces, multi-byte UTF-8.
VALUES = st.text(
    alphabet=st.sampled_from(list('ab {}":, é€😀:')) | st.characters(codec="utf-8"),
    max_size=12,
).filter(lambda text: "\r" not in text and "\n" not in text)
FIELD_LINES = st.one_of(
    st.builds(lambda v: f"data: {v}", VALUES),
    st.builds(lambda v: f"data:{v}", VALUES),
    st.just("data"),
    st.builds(lambda v: f"event: {v}", VALUES),
    st.just("event:"),
    st.builds(lambda v: f": {v}", VALUES),
    st.builds(lambda v: f"unknown: {v}", VALUES),
)
EVENTS = st.lists(FIELD_LINES, min_size=0, max_size=4)


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _cut(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(len(body), cut) for cut in cuts} | {0, len(body)})
    return [body[start:end] for start, end in itertools.pairwise(points)]


async def _ours(parts: list[bytes]) -> list[tuple[str | None, str]]:
    return [event async for event in server_sent_events(_chunks(parts))]


async def _reference(decoder_class: type, parts: list[bytes]) -> list[tuple[str | None, str]]:
    decoder = decoder_class()
    return [(sse.event, sse.data) async for sse in decoder.aiter_bytes(_chunks(parts))]


@settings(max_examples=400, deadline=None)
@given(
    events=st.lists(EVENTS, max_size=6),
    line_end=LINE_ENDS,
    trailing=st.sampled_from(["", "data: unterminated", "data: x\n"]),
    cuts=st.lists(st.integers(0, 400), max_size=12),
)
def test_same_events_as_the_sdks_decoders(
    events: list[list[str]], line_end: str, trailing: str, cuts: list[int]
) -> None:
    text = "".join(line_end.join([*lines, ""]) + line_end for lines in events) + trailing
    parts = _cut(text.encode(), cuts)
    ours = asyncio.run(_ours(parts))
    for decoder_class in REFERENCE_DECODERS:
        assert ours == asyncio.run(_reference(decoder_class, parts)), decoder_class


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"data: {}\n\n", [(None, "{}")]),
        (b"event: message_start\ndata: {}\n\n", [("message_start", "{}")]),
        (b"data: a\ndata: b\n\n", [(None, "a\nb")]),
        (b": keep-alive\n\n", []),
        (b"data: x\r\n\r\n", [(None, "x")]),
        (b"data: cut off", []),
    ],
)
def test_events(body: bytes, expected: list[tuple[str | None, str]]) -> None:
    assert asyncio.run(_ours([body])) == expected


def test_a_crlf_split_across_chunks_is_one_line_end() -> None:
    parts = [b"data: one\r", b"\n\r", b"\ndata: two\r\n\r\n"]
    assert asyncio.run(_ours(parts)) == [(None, "one"), (None, "two")]


def test_a_multi_byte_character_split_across_chunks() -> None:
    body = "data: h€llo\n\n".encode()
    split = body.index("€".encode()) + 1
    assert asyncio.run(_ours([body[:split], body[split:]])) == [(None, "h€llo")]


def test_id_and_retry_alone_dispatch_nothing() -> None:
    assert asyncio.run(_ours([b"id: 7\n\nretry: 10\n\ndata: x\nid: 8\n\n\n"])) == [(None, "x")]


def test_invalid_utf8_is_a_value_error() -> None:
    with pytest.raises(UnicodeDecodeError, match="utf-8"):
        asyncio.run(_ours([b"data: \xff\n\n"]))
