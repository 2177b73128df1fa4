"""OpenTelemetry traces, turned on by the standard OpenTelemetry environment.

Tracing is on when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is
set (and neither ``OTEL_SDK_DISABLED=true`` nor ``OTEL_TRACES_EXPORTER=none``): spans go over
OTLP ``http/protobuf``. The SDK itself reads the rest of the environment: ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` / ``_ARG`` and the exporter's headers and
timeouts. Without it nothing of OpenTelemetry is imported, and every helper here costs one
attribute read: callers check :func:`enabled` (or a span being ``None``) first.

Message content (prompts, completions, tool arguments) is recorded only with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``; headers never are.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from app.config import (
    CAPTURE_CONTENT_ENV,
    OTEL_SDK_DISABLED_ENV,
    OTEL_TRACES_EXPORTER_ENV,
    TRACES_ENDPOINT_ENVS,
    TRACES_PROTOCOL_ENVS,
    ConfigError,
)

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

HTTP_PROTOBUF = "http/protobuf"
DEFAULT_SERVICE_NAME = "agentsmcp"
TRACER_NAME = "agentsmcp"
# error.type of an operation that ended without a more precise cause.
OTHER_ERROR = "_OTHER"

AttributeValue = str | bool | int | float | Sequence[str]


class TracingConfigError(ConfigError):
    """The OpenTelemetry environment asks for something this server does not do (reported at
    startup as a configuration error)."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


class _State:
    __slots__ = ("capture_content", "propagator", "provider", "tracer")

    def __init__(self) -> None:
        self.tracer: Tracer | None = None
        self.provider: TracerProvider | None = None
        self.propagator: Any = None
        self.capture_content = False


_state = _State()


def requested(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` turns tracing on."""
    if environ.get(OTEL_SDK_DISABLED_ENV, "").strip().lower() == "true":
        return False
    if environ.get(OTEL_TRACES_EXPORTER_ENV, "otlp").strip().lower() == "none":
        return False
    return any(environ.get(name) for name in TRACES_ENDPOINT_ENVS)


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Set tracing up from ``environ`` (the process environment by default, which the SDK
    reads too); whether it is on. A provider set up earlier is shut down first."""
    environ = os.environ if environ is None else environ
    shutdown()
    if not requested(environ):
        return False
    protocol = next(
        (environ[name] for name in TRACES_PROTOCOL_ENVS if environ.get(name)), HTTP_PROTOBUF
    )
    if protocol.strip() != HTTP_PROTOBUF:
        raise TracingConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: traces are exported"
            f" over OTLP {HTTP_PROTOBUF} (port 4318 of a collector)."
        )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    provider = TracerProvider(resource=_resource())
    from ._otlp import SpanExporter

    provider.add_span_processor(BatchSpanProcessor(SpanExporter()))
    _state.provider = provider
    _state.tracer = provider.get_tracer(TRACER_NAME)
    _state.propagator = TraceContextTextMapPropagator()
    _state.capture_content = environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"
    return True


def _resource() -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def flush(timeout_millis: int = 10_000) -> bool:
    """Export the spans ended so far (tests, shutdown); whether it finished in time."""
    provider = _state.provider
    return provider.force_flush(timeout_millis) if provider is not None else True


def shutdown() -> None:
    """Export what is left and stop tracing (blocking: at most the exporter's timeout)."""
    provider = _state.provider
    _state.tracer = _state.provider = _state.propagator = None
    _state.capture_content = False
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _state.tracer is not None


def capture_content() -> bool:
    return _state.capture_content


def start_span(
    name: str,
    attributes: Mapping[str, AttributeValue],
    *,
    kind: str = "INTERNAL",
    parent: Context | None = None,
) -> Span | None:
    """A span under ``parent`` (the current context by default); None when tracing is off or
    the current span is not sampled (its children would not be either: the request pays for
    one sampling decision, not one per span). ``kind``: a
    :class:`opentelemetry.trace.SpanKind` name."""
    tracer = _state.tracer
    if tracer is None:
        return None
    from opentelemetry import trace

    if parent is None:
        current = trace.get_current_span()
        if current.get_span_context().is_valid and not current.is_recording():
            return None
    return tracer.start_span(name, parent, trace.SpanKind[kind], attributes)


def attach(span: Span) -> object:
    """Make ``span`` the current one; :func:`detach` the token in the same task."""
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(span))


def detach(token: object) -> None:
    from opentelemetry import context

    context.detach(token)  # type: ignore[arg-type]


@contextmanager
def current(span: Span | None) -> Iterator[None]:
    """``span`` as the current span for the block (nothing when it is None)."""
    if span is None:
        yield
        return
    token = attach(span)
    try:
        yield
    finally:
        detach(token)


def error_type(exc: BaseException | None) -> str:
    """``error.type`` of an operation that raised ``exc``: its error code, else the exception's
    class name."""
    if exc is None:
        return OTHER_ERROR
    code = getattr(exc, "code", None)
    if isinstance(code, str | int) and code:
        # An API error's code, a JSON-RPC error's number.
        return str(code)
    if type(exc).__name__ in {"CancelledError", "GeneratorExit"}:
        return "cancelled"
    return type(exc).__qualname__


def end_span(span: Span, error: str | None = None) -> None:
    """End ``span``, as failed with ``error`` (its error.type) when there is one."""
    if error is not None:
        from opentelemetry.trace import StatusCode

        span.set_attribute("error.type", error)
        span.set_status(StatusCode.ERROR)
    span.end()


def record_error(error: str) -> None:
    """``error.type`` on the current span (a refusal or failure its operation answered)."""
    if _state.tracer is None:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("error.type", error)


def extract(carrier: Mapping[str, Any]) -> Context | None:
    """The W3C trace context a caller sent in ``carrier`` (headers, MCP ``params._meta``),
    or None without a valid one."""
    propagator = _state.propagator
    if propagator is None or not isinstance(carrier.get("traceparent"), str):
        return None
    from opentelemetry import trace

    context: Context = propagator.extract({k: v for k, v in carrier.items() if isinstance(v, str)})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def inject(carrier: MutableMapping[str, str]) -> None:
    """Add the current span's ``traceparent`` (and ``tracestate``) to ``carrier``."""
    propagator = _state.propagator
    if propagator is not None:
        propagator.inject(carrier)


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span IDs (hex), or None outside a sampled span."""
    if _state.tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def exemplar() -> dict[str, str] | None:
    """A histogram observation's exemplar: the current trace and span (OpenMetrics)."""
    ids = current_ids()
    return None if ids is None else {"trace_id": ids[0], "span_id": ids[1]}
