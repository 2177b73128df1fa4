"""Our OTLP span encoding against the official one: parsed back, the two requests are equal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export import SpanExporter as BaseExporter
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

from app.observability._otlp import SpanExporter, encode_spans

REMOTE_PARENT = SpanContext(
    0x0AF7651916CD43DD8448EB211C80319C,
    0xB7AD6B7169203331,
    is_remote=True,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
    trace_state=TraceState([("vendor", "a1"), ("other", "b-2")]),
)


class Kept(BaseExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def ended_spans(
    record: Callable[[TracerProvider], None], limits: SpanLimits | None = None
) -> list[ReadableSpan]:
    kept = Kept()
    resource = Resource({"service.name": "agentsmcp-test", "k8s.pod.uid": "p-1"}, "https://s/1")
    provider = TracerProvider(resource=resource, span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(kept))
    record(provider)
    provider.shutdown()
    return kept.spans


def assert_same_encoding(spans: Sequence[ReadableSpan]) -> None:
    expected = ExportTraceServiceRequest.FromString(official(spans).SerializeToString())
    assert ExportTraceServiceRequest.FromString(encode_spans(spans)) == expected
    assert expected.resource_spans[0].scope_spans[0].spans, "nothing was compared"


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
    def record(provider: TracerProvider) -> None:
        tracer = provider.get_tracer("agentsmcp")
        for kind in SpanKind:
            with tracer.start_as_current_span(f"span {kind.name}", kind=kind) as span:
                span.set_attributes(ATTRIBUTES)
                # The same key with values equal in Python but not in OTLP: never mixed up
                # by the cache.
                same = {SpanKind.INTERNAL: 1, SpanKind.SERVER: True}.get(kind, 1.0)
                span.set_attribute("same", same)
                span.set_attribute("zero", -0.0 if kind is SpanKind.CLIENT else 0.0)
                span.set_attribute("ones", (True,) if kind is SpanKind.CLIENT else (1,))

    assert_same_encoding(ended_spans(record))


def test_status_parents_and_trace_state() -> None:
    def record(provider: TracerProvider) -> None:
        tracer = provider.get_tracer("agentsmcp")
        remote = set_span_in_context(NonRecordingSpan(REMOTE_PARENT))
        with tracer.start_as_current_span("server", context=remote, kind=SpanKind.SERVER):
            with tracer.start_as_current_span("failed") as failed:
                failed.set_status(StatusCode.ERROR, "upstream said no")
            with tracer.start_as_current_span("error without text") as bare:
                bare.set_status(StatusCode.ERROR)
            with tracer.start_as_current_span("ok") as ok:
                ok.set_status(StatusCode.OK)
        tracer.start_span("").end()

    spans = ended_spans(record)
    assert_same_encoding(spans)


def test_events_links_dropped_counts_and_scopes() -> None:
    def record(provider: TracerProvider) -> None:
        tracer = provider.get_tracer("agentsmcp")
        scoped = provider.get_tracer("other", "1.2.3", "https://schema/1", {"scope.attr": "v"})
        with tracer.start_as_current_span("with event") as span:
            span.add_event("something", {"n": 1})
        tracer.start_span("with link", links=[Link(REMOTE_PARENT, {"l": True})]).end()
        with scoped.start_as_current_span("too many attributes") as span:
            span.set_attributes({f"a{i}": i for i in range(5)})
        with pytest.raises(ValueError, match="recorded"), tracer.start_as_current_span("exception"):
            raise ValueError("recorded as an event")

    spans = ended_spans(record, SpanLimits(max_span_attributes=3))
    assert any(span.dropped_attributes for span in spans)
    assert_same_encoding(spans)


@pytest.fixture
def collector() -> Iterator[tuple[str, list[bytes]]]:
    """A local OTLP endpoint keeping every body it receives."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/traces", bodies
    server.shutdown()
    thread.join()


def test_the_exporter_sends_our_encoding(collector: tuple[str, list[bytes]]) -> None:
    endpoint, bodies = collector
    spans = ended_spans(lambda provider: provider.get_tracer("agentsmcp").start_span("a").end())
    exporter = SpanExporter(endpoint=endpoint)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()  # type: ignore[no-untyped-call]
    assert bodies == [encode_spans(spans)]


def test_a_batch_ours_cannot_encode_goes_the_official_way(
    collector: tuple[str, list[bytes]],
) -> None:
    endpoint, bodies = collector

    def record(provider: TracerProvider) -> None:
        span = provider.get_tracer("agentsmcp").start_span("a")
        span.set_attribute("fine", 1)
        span.set_attribute("beyond.int64", 2**64)  # the official encoder drops it, and logs
        span.end()

    spans = ended_spans(record)
    exporter = SpanExporter(endpoint=endpoint)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()  # type: ignore[no-untyped-call]
    assert bodies == [official(spans).SerializePartialToString()]
