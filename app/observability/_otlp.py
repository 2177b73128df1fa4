"""OTLP ``http/protobuf`` export of ended spans, encoded straight to protobuf bytes.

The official encoder (``opentelemetry-exporter-otlp-proto-common``) builds a protobuf message
for each span, attribute and value, then serializes them: about 30 us of CPU per span
(bench/FINDINGS.md, section 12). :func:`encode_span` writes the same ``Span`` message from our
span (``_spans.py``) when it ends, in about 2.5 us: the attribute pairs that repeat cached by
key and typed value, the name and kind cached. tests/app/tracing/test_otlp.py compares it with
the official encoding of the same span as the SDK's ``ReadableSpan``. The official encoder
still does what is rare or done once per batch: the resource, the instrumentation scope, spans
with events or links, attribute values other than scalars and lists of scalars, and any span
ours fails to encode. The official exporter's client sends the batches (its endpoint, headers,
compression, timeout and retries from the environment).

Imported only when tracing is on.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_instrumentation_scope,
    _encode_key_value,
    _encode_resource,
)
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import _encode_span
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind, Status

from ._spans import UNSET_STATUS

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from ._spans import RecordingSpan

_logger = logging.getLogger(__name__)

_UINT64 = (1 << 64) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_fixed64: Callable[[int], bytes] = struct.Struct("<Q").pack
_double: Callable[[float], bytes] = struct.Struct("<d").pack
# Span.start_time_unix_nano and end_time_unix_nano (fields 7 and 8, fixed64) with their tags.
_times: Callable[[bytes, int, bytes, int], bytes] = struct.Struct("<cQcQ").pack
_ONE_BYTE = tuple(bytes((n,)) for n in range(128))

# Span.flags (field 16, SpanFlags): whether the parent is remote is known, and whether it is.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
_LOCAL_PARENT_FLAGS = b"\x85\x01" + struct.pack("<I", _HAS_IS_REMOTE)
_REMOTE_PARENT_FLAGS = b"\x85\x01" + struct.pack("<I", _HAS_IS_REMOTE | _IS_REMOTE)
# Span.kind (field 6): the SDK's SpanKind is the OTLP value minus one.
_KINDS = {kind: b"\x30" + _ONE_BYTE[kind.value + 1] for kind in SpanKind}
_NO_STATUS = b"\x7a\x00"  # Span.status (field 15), empty: the SDK always has one.
_BOOLS = {True: b"\x10\x01", False: b"\x10\x00"}


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes, message)."""
    return tag + _varint(len(payload)) + payload


def _scalar(value: object) -> bytes | None:
    """An ``AnyValue`` of a string, bool, int64 or float; None for any other value."""
    if type(value) is str:
        return _field(b"\x0a", value.encode())
    if type(value) is bool:
        return _BOOLS[value]
    if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
        return b"\x18" + _varint(value & _UINT64)
    if type(value) is float:
        return b"\x21" + _double(value)
    return None


def _any_value(value: object) -> bytes | None:
    """``AnyValue`` of a scalar or a tuple of scalars (the SDK stores sequences as tuples);
    None for anything else, left to the official encoder."""
    if type(value) is not tuple:
        return _scalar(value)
    items = []
    for item in value:
        encoded = _scalar(item)
        if encoded is None:
            return None
        items.append(_field(b"\x0a", encoded))
    return _field(b"\x2a", b"".join(items))


def _key_value(key: str, value: object) -> bytes:
    """One ``KeyValue`` as a span's attribute (field 9)."""
    encoded = _any_value(value)
    if encoded is None:
        return _field(b"\x4a", _encode_key_value(key, value).SerializeToString())
    return _field(b"\x4a", _field(b"\x0a", key.encode()) + _field(b"\x12", encoded))


# Most attributes repeat from span to span (operation, agent, model, route, finish reasons...):
# their encodings are kept by (key, value), one cache per type (True == 1 == 1.0, and -0.0 ==
# 0.0: floats are not kept), tuples only of strings (so that no other tuple equals one kept).
_ATTRIBUTE_CACHES: dict[type, dict[tuple[str, object], bytes]] = {
    str: {},
    int: {},
    bool: {},
    tuple: {},
}
# Few distinct span names: routes, models, agents, tools.
_NAMES: dict[str, tuple[SpanKind, bytes]] = {}
_CACHE_SIZE = 4096


def _remember(cache: dict[tuple[str, object], bytes], item: tuple[str, object]) -> bytes:
    encoded = _key_value(*item)
    value = item[1]
    if type(value) is tuple and not all(type(part) is str for part in value):
        return encoded
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[item] = encoded
    return encoded


def _name_and_kind(name: str, kind: SpanKind) -> bytes:
    encoded = (_field(b"\x2a", name.encode()) if name else b"") + _KINDS[kind]
    if len(_NAMES) >= _CACHE_SIZE:
        _NAMES.clear()
    _NAMES[name] = (kind, encoded)
    return encoded


def _status(status: Status) -> bytes:
    if status is UNSET_STATUS:
        return _NO_STATUS
    parts = b""
    if status.description:
        parts = _field(b"\x12", status.description.encode())
    code = status.status_code.value
    if code:
        parts += b"\x18" + _ONE_BYTE[code]
    return _field(b"\x7a", parts)


def encode_span(span: RecordingSpan) -> bytes:
    """One ``Span`` message as a ``ScopeSpans.spans`` field."""
    if span._events or span._links:  # Neither is recorded by this server.
        return encode_officially(span.readable())
    # A SpanContext is a tuple: trace ID, span ID, remote, flags, state (properties cost a call).
    context, parent = span._context, span._parent
    parts = [
        b"\x0a\x10" + context[0].to_bytes(16, "big") + b"\x12\x08" + context[1].to_bytes(8, "big")
    ]
    if context[4]:
        state = ",".join(f"{key}={value}" for key, value in context[4].items())
        parts.append(_field(b"\x1a", state.encode()))
    if parent is not None:
        parts.append(b"\x22\x08" + parent[1].to_bytes(8, "big"))
    name, kind = span._name, span._kind
    cached = _NAMES.get(name)
    parts.append(
        cached[1] if cached is not None and cached[0] is kind else _name_and_kind(name, kind)
    )
    parts.append(_times(b"\x39", span._start_time, b"\x41", span._end_time))  # type: ignore[arg-type]
    caches = _ATTRIBUTE_CACHES
    for item in span._attributes.items():
        cache = caches.get(type(item[1]))
        if cache is None:
            parts.append(_key_value(*item))
        else:
            parts.append(cache.get(item) or _remember(cache, item))
    if span._dropped_attributes:
        parts.append(b"\x50" + _varint(span._dropped_attributes))
    parts.append(_status(span._status))
    parts.append(_REMOTE_PARENT_FLAGS if parent is not None and parent[2] else _LOCAL_PARENT_FLAGS)
    return _field(b"\x12", b"".join(parts))


def encode_officially(span: ReadableSpan) -> bytes:
    """``span`` as a ``ScopeSpans.spans`` field by the official encoder."""
    return _field(b"\x12", _encode_span(span).SerializeToString())


def encode_any(span: RecordingSpan) -> bytes:
    """:func:`encode_span`, or the official encoder for a value ours does not encode (it drops
    such a value)."""
    try:
        return encode_span(span)
    except Exception:
        return encode_officially(span.readable())


def encode_request(
    resource: Resource, scope: InstrumentationScope, spans: Sequence[bytes]
) -> bytes:
    """An ``ExportTraceServiceRequest`` of ``spans`` (:func:`encode_span`) of one tracer."""
    scope_spans = [_field(b"\x0a", _encode_instrumentation_scope(scope).SerializeToString())]
    scope_spans.extend(spans)
    if scope.schema_url:
        scope_spans.append(_field(b"\x1a", scope.schema_url.encode()))
    resource_spans = [
        _field(b"\x0a", _encode_resource(resource).SerializeToString()),
        _field(b"\x12", b"".join(scope_spans)),
    ]
    if resource.schema_url:
        resource_spans.append(_field(b"\x1a", resource.schema_url.encode()))
    return _field(b"\x0a", b"".join(resource_spans))


# The most span bytes one export request carries. The batch processor counts spans, not bytes:
# 512 spans with captured prompts can reach hundreds of MB, and the collector's OTLP/HTTP
# receiver refuses a body over 20 MiB by default (Jaeger v2 and the OpenTelemetry Collector),
# losing every span of the batch. A larger batch is sent in parts, a span larger than this alone.
REQUEST_SPAN_BYTES = 4 * 1024 * 1024
# What became of one request: the collector took it, refused it (or it was over the exporter's
# size limit), or did not answer (not reached, or not within the exporter's timeout).
Delivery = Literal["sent", "refused", "unanswered"]


def request_parts(spans: Sequence[bytes], limit: int = REQUEST_SPAN_BYTES) -> list[list[bytes]]:
    """``spans`` in order, cut into runs of at most ``limit`` bytes (a larger span alone)."""
    parts: list[list[bytes]] = []
    part: list[bytes] = []
    size = 0
    for span in spans:
        if part and size + len(span) > limit:
            parts.append(part)
            part, size = [], 0
        part.append(span)
        size += len(span)
    if part:
        parts.append(part)
    return parts


class SpanExporter:
    """Sends batches of encoded spans (:func:`encode_span`) of one tracer through the official
    OTLP http/protobuf exporter's client (its endpoint, headers, compression, timeout and
    retries from the environment), as its ``export`` would, in requests of at most
    :data:`REQUEST_SPAN_BYTES` of spans; the batch processor's exporter."""

    def __init__(
        self,
        resource: Resource,
        scope: InstrumentationScope,
        exporter: OTLPSpanExporter,
        taken: Callable[[Sequence[bytes]], None] | None = None,
        dropped: Callable[[str, int], None] | None = None,
    ) -> None:
        self._resource = resource
        self._scope = scope
        self._exporter = exporter
        self._taken = taken
        self._dropped = dropped

    def export(self, spans: Sequence[bytes]) -> SpanExportResult:
        """Send ``spans``, which the batch processor took off its queue; ``taken`` is told once
        they are sent or given up."""
        try:
            return self._export(spans)
        finally:
            if self._taken is not None:
                self._taken(spans)

    def _export(self, spans: Sequence[bytes]) -> SpanExportResult:
        if self._exporter._shutdown:
            _logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        parts = request_parts(spans)
        outcome = SpanExportResult.SUCCESS
        for number, part in enumerate(parts):
            delivery = self._send(part)
            if delivery == "sent":
                continue
            outcome = SpanExportResult.FAILURE
            if delivery == "refused":
                self._count_dropped(len(part))
                continue
            # Not reached, or no answer within the exporter's timeout: the next part would wait
            # as long, while the queue fills.
            left = sum(len(rest) for rest in parts[number + 1 :])
            if left:
                _logger.warning("Dropping %d spans: the collector did not answer", left)
            self._count_dropped(len(part) + left)
            break
        return outcome

    def _count_dropped(self, count: int) -> None:
        if self._dropped is not None:
            self._dropped("export_failed", count)

    def _send(self, spans: Sequence[bytes]) -> Delivery:
        """Export ``spans`` in one request."""
        exporter = self._exporter
        data = encode_request(self._resource, self._scope, spans)
        with exporter._metrics.export_operation(len(spans)) as result:
            if 0 < exporter._max_request_size < len(data):
                _logger.warning("Dropping a span batch of %d bytes: too large", len(data))
                return "refused"
            sent = exporter._client.export(data)
            if not sent.success:
                result.error = sent.error
                if sent.status_code is not None:
                    result.error_attrs = {"http.response.status_code": sent.status_code}
                    return "refused"
                return "unanswered"
        return "sent"

    def shutdown(self) -> None:
        self._exporter.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
