"""Our tracer (app/observability/_spans.py) keeping what it records, for the encoding and span
tests."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from app.observability._otlp import encode_any, encode_request
from app.observability._spans import RecordingSpan, SpanTracer

RESOURCE = Resource({"service.name": "agentsmcp-test", "k8s.pod.uid": "p-1"}, "https://s/1")
SCOPE = InstrumentationScope("agentsmcp", "")


class KeptTracer(SpanTracer):
    """A tracer whose ended, sampled spans are kept, as spans and as the bytes it would queue
    for export."""

    def __init__(
        self,
        sampler: Sampler = ALWAYS_ON,
        limits: SpanLimits | None = None,
        scope: InstrumentationScope = SCOPE,
    ) -> None:
        self.spans: list[RecordingSpan] = []
        self.encoded: list[bytes] = []
        limits = SpanLimits() if limits is None else limits
        super().__init__(sampler, limits, RESOURCE, scope, self.encoded.append, encode_any)

    def ended(self, span: RecordingSpan) -> None:
        self.spans.append(span)
        super().ended(span)

    def request(self) -> ExportTraceServiceRequest:
        """Our export request of what was kept, parsed back."""
        return ExportTraceServiceRequest.FromString(
            encode_request(self.resource, self.scope, self.encoded)
        )

    def official_request(self) -> ExportTraceServiceRequest:
        """The official encoder's request of the same spans (as the SDK's ReadableSpan)."""
        readable = [span.readable() for span in self.spans]
        return ExportTraceServiceRequest.FromString(official(readable).SerializeToString())


def assert_same_encoding(tracer: KeptTracer) -> None:
    expected = tracer.official_request()
    assert tracer.request() == expected
    assert expected.resource_spans[0].scope_spans[0].spans, "nothing was compared"
