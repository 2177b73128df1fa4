"""A FastMCP tool server (the official SDK's) whose tool joins the caller's trace: it reads the
W3C trace context from the request's ``params._meta`` and exports its own span over OTLP.

``python -m tests.app.tracing.traced_tool_server PORT OTLP_ENDPOINT``
"""

from __future__ import annotations

import sys

import uvicorn
from mcp.server.fastmcp import Context, FastMCP
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

server = FastMCP("traced-tools", host="127.0.0.1")
provider = TracerProvider(resource=Resource({"service.name": "traced-tool-server"}))
tracer = provider.get_tracer("traced-tool-server")


@server.tool()
def add(a: float, b: float, ctx: Context) -> float:  # type: ignore[type-arg]
    """Add two numbers."""
    meta = ctx.request_context.meta
    carrier = dict(meta.model_extra or {}) if meta is not None else {}
    parent = TraceContextTextMapPropagator().extract(carrier)
    with tracer.start_as_current_span("tool add", context=parent, kind=SpanKind.SERVER):
        return a + b


def main() -> None:
    port, endpoint = int(sys.argv[1]), sys.argv[2]
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    app = server.streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
