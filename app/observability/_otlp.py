"""OTLP ``http/protobuf`` export of ended spans, encoded straight to protobuf bytes.

The official encoder (``opentelemetry-exporter-otlp-proto-common``) builds a protobuf message
for each span, attribute and value, then serializes them: about 30 us of CPU per span, more than
the SDK spends starting and ending it (bench/FINDINGS.md, section 12). This writes the same
``ExportTraceServiceRequest`` bytes from the spans directly (tests/app/tracing/test_otlp.py
parses both encodings and compares them). The official encoder still does what is rare or done
once per batch: the resource, the instrumentation scope, spans with events or links and
attribute values other than scalars and lists of scalars. The official exporter sends the bytes
(its endpoint, headers, compression, timeout and retries from the environment). The span's
fields are read from the SDK's attributes, not its properties (which copy); the SDK is pinned
(app/requirements.txt), and should a batch fail to encode, the official exporter takes it.

Imported only when tracing is on.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_instrumentation_scope,
    _encode_key_value,
    _encode_resource,
)
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import _encode_span
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

_UINT64 = (1 << 64) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_fixed64: Callable[[int], bytes] = struct.Struct("<Q").pack
_fixed32: Callable[[int], bytes] = struct.Struct("<I").pack
_double: Callable[[float], bytes] = struct.Struct("<d").pack
# Span.start_time_unix_nano and end_time_unix_nano (fields 7 and 8, fixed64) with their tags.
_times: Callable[[bytes, int, bytes, int], bytes] = struct.Struct("<cQcQ").pack
_ONE_BYTE = tuple(bytes((n,)) for n in range(128))

# Span.flags (SpanFlags): whether the parent is remote is known, and whether it is.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
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


# Most attributes repeat from span to span (operation, agent, model, route...). Only these
# types are cached: ``typed`` keeps True and 1 apart, but a cache would take -0.0 for 0.0 and
# compares neither the types of a tuple's items.
_cached_key_value = lru_cache(maxsize=4096, typed=True)(_key_value)
_CACHED_TYPES = frozenset({str, bool, int})


def _status(span: ReadableSpan) -> bytes:
    status = span._status
    if status.status_code is StatusCode.UNSET and not status.description:
        return _NO_STATUS
    parts = b""
    if status.description:
        parts = _field(b"\x12", status.description.encode())
    code = status.status_code.value
    if code:
        parts += b"\x18" + _ONE_BYTE[code]
    return _field(b"\x7a", parts)


def _count(tag: bytes, count: int) -> bytes:
    return tag + _varint(count) if count else b""


def _attributes(span: ReadableSpan) -> Iterable[tuple[str, object]]:
    attributes = span._attributes  # the span's own, immutable once ended
    if type(attributes) is BoundedAttributes:
        # Its dict: BoundedAttributes.items() goes through a lock and a lookup per key.
        return attributes._dict.items()
    return (attributes or {}).items()


@lru_cache(maxsize=1024)
def _name_and_kind(name: str, kind: SpanKind) -> bytes:
    # Few distinct names: routes, models, agents, tools.
    return (_field(b"\x2a", name.encode()) if name else b"") + _KINDS[kind]


def encode_span(span: ReadableSpan) -> bytes:
    """One ``Span`` message (without its field tag)."""
    if span._events or span._links:  # len() of the lists, not tuple copies
        # Neither is recorded by this server.
        return bytes(_encode_span(span).SerializeToString())
    context = span._context  # properties cost a call each
    parent = span._parent
    assert context is not None
    parts = [b"\x0a\x10" + context.trace_id.to_bytes(16, "big") + b"\x12\x08"]
    parts.append(context.span_id.to_bytes(8, "big"))
    if context.trace_state:
        state = ",".join(f"{key}={value}" for key, value in context.trace_state.items())
        parts.append(_field(b"\x1a", state.encode()))
    flags = _HAS_IS_REMOTE
    if parent is not None:
        parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        if parent.is_remote:
            flags |= _IS_REMOTE
    parts.append(_name_and_kind(span._name, span._kind))
    parts.append(_times(b"\x39", span._start_time, b"\x41", span._end_time))  # type: ignore[arg-type]
    cached, cached_types = _cached_key_value, _CACHED_TYPES
    for key, value in _attributes(span):
        parts.append(cached(key, value) if type(value) in cached_types else _key_value(key, value))
    if span.dropped_attributes or span.dropped_events or span.dropped_links:
        parts.append(_count(b"\x50", span.dropped_attributes))
        parts.append(_count(b"\x60", span.dropped_events))
        parts.append(_count(b"\x70", span.dropped_links))
    parts.append(_status(span))
    parts.append(b"\x85\x01" + _fixed32(flags))
    return b"".join(parts)


_Scopes = dict[int, tuple["InstrumentationScope | None", list[bytes]]]


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """An ``ExportTraceServiceRequest``: the spans grouped by resource, then by scope."""
    groups: dict[int, tuple[Resource, _Scopes]] = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope
        scopes = groups.setdefault(id(resource), (resource, {}))[1]
        scopes.setdefault(id(scope), (scope, []))[1].append(_field(b"\x12", encode_span(span)))
    return b"".join(
        _field(b"\x0a", _resource_spans(resource, scopes)) for resource, scopes in groups.values()
    )


def _resource_spans(resource: Resource, scopes: _Scopes) -> bytes:
    parts = [_field(b"\x0a", _encode_resource(resource).SerializeToString())]
    for scope, encoded_spans in scopes.values():
        # The official encoder takes None for "no scope".
        encoded_scope = _encode_instrumentation_scope(scope)  # type: ignore[arg-type]
        scope_spans = [_field(b"\x0a", encoded_scope.SerializeToString())]
        scope_spans.extend(encoded_spans)
        if scope is not None and scope.schema_url:
            scope_spans.append(_field(b"\x1a", scope.schema_url.encode()))
        parts.append(_field(b"\x12", b"".join(scope_spans)))
    if resource.schema_url:
        parts.append(_field(b"\x1a", resource.schema_url.encode()))
    return b"".join(parts)


class SpanExporter(OTLPSpanExporter):
    """The official OTLP http/protobuf exporter, its spans encoded by :func:`encode_spans`;
    anything unusual (an encoding failure, an oversized batch, after shutdown) goes the
    official way."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            data = encode_spans(spans)
        except Exception:  # The official encoder reports it.
            return super().export(spans)
        if self._shutdown or 0 < self._max_request_size < len(data):
            return super().export(spans)
        with self._metrics.export_operation(len(spans)) as result:
            sent = self._client.export(data)
            if not sent.success:
                result.error = sent.error
                if sent.status_code is not None:
                    result.error_attrs = {"http.response.status_code": sent.status_code}
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
