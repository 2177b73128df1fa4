"""Our OTLP span encoding against the official one: our spans, also converted to the SDK's
``ReadableSpan`` and encoded officially; parsed back, the two requests are equal."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import SpanLimits
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from app.observability._otlp import (
    REQUEST_SPAN_BYTES,
    SpanExporter,
    encode_request,
    request_parts,
)

from .conftest import Collector
from .spans import RESOURCE, SCOPE, KeptTracer, assert_same_encoding

REMOTE_PARENT = SpanContext(
    0x0AF7651916CD43DD8448EB211C80319C,
    0xB7AD6B7169203331,
    is_remote=True,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
    trace_state=TraceState([("vendor", "a1"), ("other", "b-2")]),
)


ATTRIBUTES: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "text.empty": "",
    "text.unicode": "héllo ✓ 𝄞",
    "text.long": "x" * 300,
    "flag.true": True,
    "flag.false": False,
    "int.zero": 0,
    "int.one": 1,
    "int.negative": -42,
    "int.large": 2**62,
    "int.min": -(2**63),
    "float.one": 1.0,
    "float.negative": -0.25,
    "float.zero": 0.0,
    "strings": ["stop", "length", ""],
    "bools": [True, False],
    "ints": [1, -1, 300],
    "floats": [1.5, 0.0],
    "empty": [],
}


def test_attributes_of_every_kind_and_span_kinds() -> None:
    tracer = KeptTracer()
    for _ in range(2):  # the second time from the caches
        for kind in SpanKind:
            with tracer.start_as_current_span(f"span {kind.name}", kind=kind) as span:
                span.set_attributes(ATTRIBUTES)
                # The same key with values equal in Python but not in OTLP: never mixed up
                # by the caches.
                same = {SpanKind.INTERNAL: 1, SpanKind.SERVER: True}.get(kind, 1.0)
                span.set_attribute("same", same)
                span.set_attribute("zero", -0.0 if kind is SpanKind.CLIENT else 0.0)
                span.set_attribute("ones", (True,) if kind is SpanKind.CLIENT else (1,))
            # Given at the start, and the same name with another kind.
            tracer.start_span("same name", kind=kind, attributes=ATTRIBUTES).end()

    assert_same_encoding(tracer)


def test_status_parents_and_trace_state() -> None:
    tracer = KeptTracer()
    remote = set_span_in_context(NonRecordingSpan(REMOTE_PARENT))
    with tracer.start_as_current_span("server", context=remote, kind=SpanKind.SERVER):
        with tracer.start_as_current_span("failed") as failed:
            failed.set_status(StatusCode.ERROR, "upstream said no")
        with tracer.start_as_current_span("error without text") as bare:
            bare.set_status(StatusCode.ERROR)
        with tracer.start_as_current_span("ok") as ok:
            ok.set_status(StatusCode.OK)
    tracer.start_span("").end()
    assert_same_encoding(tracer)


def test_events_links_dropped_counts_and_scopes() -> None:
    scope = InstrumentationScope("other", "1.2.3", "https://schema/1", {"scope.attr": "v"})
    tracer = KeptTracer(limits=SpanLimits(max_span_attributes=3), scope=scope)
    with tracer.start_as_current_span("with event") as span:
        span.add_event("something", {"n": 1})
    tracer.start_span("with link", links=[Link(REMOTE_PARENT, {"l": True})]).end()
    with tracer.start_as_current_span("too many attributes") as span:
        span.set_attributes({f"a{i}": i for i in range(5)})
    tracer.start_span("too many at the start", attributes={f"a{i}": i for i in range(5)}).end()
    with pytest.raises(ValueError, match="recorded"), tracer.start_as_current_span("exception"):
        raise ValueError("recorded as an event")
    assert all(span.readable().dropped_attributes == 2 for span in tracer.spans[2:4])
    assert_same_encoding(tracer)


def test_the_comparison_sees_a_difference() -> None:
    tracer = KeptTracer()
    span = tracer.start_span("a", attributes={"k": "v"})
    span.end()
    assert tracer.request() == tracer.official_request()
    span._attributes["k"] = "changed after it was encoded"
    assert tracer.request() != tracer.official_request()


def test_the_exporter_sends_our_encoding(collector: Collector) -> None:
    tracer = KeptTracer()
    tracer.start_span("a").end()
    exporter = SpanExporter(RESOURCE, SCOPE, OTLPSpanExporter(endpoint=collector.endpoint))
    assert exporter.export(tracer.encoded) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert collector.bodies == [encode_request(RESOURCE, SCOPE, tracer.encoded)]
    assert exporter.export(tracer.encoded) is SpanExportResult.FAILURE  # after shutdown


def test_a_batch_over_the_exporters_size_limit_is_dropped(collector: Collector) -> None:
    tracer = KeptTracer()
    tracer.start_span("a").end()
    official = OTLPSpanExporter(endpoint=collector.endpoint, max_request_size=10)
    exporter = SpanExporter(RESOURCE, SCOPE, official)
    assert exporter.export(tracer.encoded) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert collector.bodies == []


def test_request_parts_keep_the_order_and_the_limit() -> None:
    def sizes(spans: list[int], limit: int) -> list[list[int]]:
        parts = request_parts([b"x" * size for size in spans], limit)
        return [[len(span) for span in part] for part in parts]

    assert sizes([], 6) == []
    assert sizes([3, 3, 3], 6) == [[3, 3], [3]]
    assert sizes([7, 1], 6) == [[7], [1]]
    assert sizes([1, 7, 1], 6) == [[1], [7], [1]]
    assert sizes([1, 2, 3], 6) == [[1, 2, 3]]


def big_spans(tracer: KeptTracer, count: int, size: int) -> list[bytes]:
    for index in range(count):
        tracer.start_span(f"big {index}", attributes={"gen_ai.input.messages": "x" * size}).end()
    tracer.start_span("small").end()
    return list(tracer.encoded)


def test_a_large_batch_goes_in_requests_of_bounded_size(collector: Collector) -> None:
    spans = big_spans(KeptTracer(), 5, REQUEST_SPAN_BYTES // 4)
    exporter = SpanExporter(RESOURCE, SCOPE, OTLPSpanExporter(endpoint=collector.endpoint))
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    # Three big spans fill a request; the next two and the small one take a second.
    assert collector.bodies == [
        encode_request(RESOURCE, SCOPE, spans[:3]),
        encode_request(RESOURCE, SCOPE, spans[3:]),
    ]


def test_a_refused_part_does_not_take_the_others_with_it(collector: Collector) -> None:
    spans = big_spans(KeptTracer(), 1, REQUEST_SPAN_BYTES + 2048)
    limit = REQUEST_SPAN_BYTES + 1024  # the big span's request is over it, the small one's not
    official = OTLPSpanExporter(endpoint=collector.endpoint, max_request_size=limit)
    drops: list[tuple[str, int]] = []
    exporter = SpanExporter(RESOURCE, SCOPE, official, dropped=lambda *drop: drops.append(drop))
    assert exporter.export(spans) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert collector.bodies == [encode_request(RESOURCE, SCOPE, spans[1:])]
    assert drops == [("export_failed", 1)]


def test_no_answer_drops_the_rest_of_the_batch(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    spans = big_spans(KeptTracer(), 3, REQUEST_SPAN_BYTES // 2)
    collector.answering.clear()
    official = OTLPSpanExporter(endpoint=collector.endpoint, timeout=0.5)
    drops: list[tuple[str, int]] = []
    exporter = SpanExporter(RESOURCE, SCOPE, official, dropped=lambda *drop: drops.append(drop))
    assert exporter.export(spans) is SpanExportResult.FAILURE
    exporter.shutdown()
    assert drops == [("export_failed", 4)]
    # Each big span goes alone (two are over the limit with their framing). The first request
    # waited for the timeout; the other three spans (two big, the small one) were not sent.
    assert len(collector.bodies) == 1
    assert "Dropping 3 spans: the collector did not answer" in caplog.text


def test_a_span_ours_cannot_encode_goes_the_official_way() -> None:
    tracer = KeptTracer()
    span = tracer.start_span("a")
    span.set_attribute("fine", 1)
    span.set_attribute("beyond.int64", 2**64)  # the official encoder drops it, and logs
    span.end()
    sent = tracer.request().resource_spans[0].scope_spans[0].spans[0]
    assert [attribute.key for attribute in sent.attributes] == ["fine"]
    assert tracer.request() == tracer.official_request()
