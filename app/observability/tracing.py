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

import logging
import os
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, cast

from app.config import (
    CAPTURE_CONTENT_ENV,
    OTEL_SDK_DISABLED_ENV,
    OTEL_TRACES_EXPORTER_ENV,
    TRACE_FLUSH_SECONDS,
    TRACES_ENDPOINT_ENVS,
    TRACES_PROTOCOL_ENVS,
    ConfigError,
)

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter as SdkSpanExporter
    from opentelemetry.trace import Span, SpanKind
    from prometheus_client import Counter

    from ._queue import Drops
    from ._spans import RecordingSpan, SpanTracer

HTTP_PROTOBUF = "http/protobuf"
DEFAULT_SERVICE_NAME = "agentsmcp"
TRACER_NAME = "agentsmcp"
# error.type of an operation that ended without a more precise cause.
OTHER_ERROR = "_OTHER"

AttributeValue = str | bool | int | float | Sequence[str]

_logger = logging.getLogger(__name__)


class TracingConfigError(ConfigError):
    """The OpenTelemetry environment asks for something this server does not do (reported at
    startup as a configuration error)."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


class _State:
    """The tracer and what the helpers call, bound once when tracing is configured (an import
    statement or an enum lookup per call costs more than the call)."""

    __slots__ = (
        "attach",
        "capture_content",
        "current_span",
        "detach",
        "drops",
        "kinds",
        "processor",
        "propagator",
        "recording",
        "set_span",
        "span_of",
        "tracer",
    )

    def __init__(self) -> None:
        self.tracer: SpanTracer | None = None
        self.processor: BatchSpanProcessor | None = None
        self.drops: Drops | None = None
        self.propagator: Any = None
        self.recording: type[Span] | None = None
        self.capture_content = False
        self.kinds: dict[str, SpanKind] = {}
        self.current_span: Callable[[], Span] = _unset
        self.set_span: Callable[[Span], Context] = _unset
        self.span_of: Callable[[Context], Span] = _unset
        self.attach: Callable[[Span], object] = _unset
        self.detach: Callable[[Any], None] = _unset

    def bind_api(self) -> None:
        from opentelemetry import trace

        from ._spans import CurrentSpan, RecordingSpan

        current = CurrentSpan()
        self.recording = RecordingSpan
        self.kinds = {kind.name: kind for kind in trace.SpanKind}
        self.current_span, self.attach, self.detach = current.get, current.attach, current.detach
        self.set_span = trace.set_span_in_context
        self.span_of = trace.get_current_span


def _unset(*args: object) -> Any:
    raise RuntimeError("tracing is not configured")


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
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from ._queue import Drops

    _state.drops = Drops()
    _state.processor, _state.tracer = _tracer(_state.drops)
    _state.propagator = TraceContextTextMapPropagator()
    _state.bind_api()
    _state.capture_content = environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"
    return True


def _tracer(drops: Drops) -> tuple[BatchSpanProcessor, SpanTracer]:
    """Our tracer (``_spans.py``) with what the SDK builds from the environment: the sampler
    and span limits of its ``TracerProvider``, the resource, and the batch span processor's
    queue and thread in front of the OTLP exporter; spans they drop are counted in ``drops``."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from ._otlp import SpanExporter, encode_any
    from ._queue import SpanQueue
    from ._spans import SpanTracer

    resource = _resource()
    scope = InstrumentationScope(TRACER_NAME, "")
    queue = SpanQueue(drops)
    exporter = SpanExporter(resource, scope, OTLPSpanExporter(), queue.taken, drops.add)
    processor = BatchSpanProcessor(cast("SdkSpanExporter", exporter))
    # The SDK's queue takes our encoded spans as they are (its processor would look into a
    # ReadableSpan first), through ours, which bounds it in bytes too.
    queue.attach(processor._batch_processor)  # type: ignore[arg-type]
    sampler = TracerProvider(shutdown_on_exit=False).sampler
    tracer = SpanTracer(sampler, SpanLimits(), resource, scope, queue.put, encode_any)
    return processor, tracer


def _resource() -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def flush(timeout_millis: int = 10_000) -> bool:
    """Export the spans ended so far (tests, shutdown); whether it finished in time."""
    processor = _state.processor
    return processor.force_flush(timeout_millis) if processor is not None else True


def shutdown(timeout_seconds: float = TRACE_FLUSH_SECONDS) -> bool:
    """Export what is left and stop tracing, blocking for ``timeout_seconds`` at most; whether
    everything was exported (or tracing was off).

    The batch span processor's own ``shutdown()`` waits 30 s, and each export up to the
    exporter's timeout (10 s): with a collector that does not answer, a pod would outlive its
    terminationGracePeriodSeconds and be killed. After ``timeout_seconds`` the export thread
    (a daemon) is left to its request and the exporter is shut down.
    """
    processor = _state.processor
    _state.tracer = _state.processor = _state.propagator = _state.drops = None
    _state.capture_content = False
    if processor is None:
        return True
    batches = processor._batch_processor
    batches.shutdown(timeout_millis=int(timeout_seconds * 1000))
    if batches._worker_thread.is_alive():
        _logger.warning(
            "Spans not exported: the export did not finish within %.1f s of shutdown",
            timeout_seconds,
        )
        return False
    return True


def count_drops(counter: Counter) -> None:
    """Count the spans dropped from now on (by reason) in ``counter``, the application's
    ``agentsmcp_trace_spans_dropped_total``; nothing when tracing is off."""
    if _state.drops is not None:
        _state.drops.counter = counter


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
    if parent is None:
        return tracer.start_under(_state.current_span(), name, _state.kinds[kind], attributes)
    context = _state.span_of(parent).get_span_context()
    return tracer.start(name, context, parent, _state.kinds[kind], attributes)


def attach(span: Span) -> object:
    """Make ``span`` the current one; :func:`detach` the token in the same task."""
    return _state.attach(span)


def detach(token: object) -> None:
    _state.detach(token)


class _Current:
    """``span`` current for a ``with`` block (a class: cheaper than a generator's context
    manager, and entered per streamed item)."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> None:
        self._token = _state.attach(self._span)

    def __exit__(self, *exc_info: object) -> None:
        _state.detach(self._token)


_NOT_TRACED = nullcontext()


def current(span: Span | None) -> AbstractContextManager[None]:
    """``span`` as the current span for the block (nothing when it is None)."""
    return _NOT_TRACED if span is None else _Current(span)


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
    span = _state.current_span()
    if span.is_recording():
        span.set_attribute("error.type", error)


def extract(carrier: Mapping[str, Any]) -> Context | None:
    """The W3C trace context a caller sent in ``carrier`` (headers, MCP ``params._meta``),
    or None without a valid one."""
    propagator = _state.propagator
    if propagator is None or not isinstance(carrier.get("traceparent"), str):
        return None
    context: Context = propagator.extract({k: v for k, v in carrier.items() if isinstance(v, str)})
    return context if _state.span_of(context).get_span_context().is_valid else None


def inject(carrier: MutableMapping[str, str], span: Span | None = None) -> None:
    """Add the ``traceparent`` (and ``tracestate``) of ``span``, the current span by default,
    to ``carrier``."""
    propagator = _state.propagator
    if propagator is None:
        return
    if span is None:
        span = _state.current_span()
    if type(span) is _state.recording:
        # Our span writes its own header (the propagator's is a context and five calls more).
        carrier["traceparent"] = cast("RecordingSpan", span).traceparent()
        state = span.get_span_context().trace_state
        if state:
            carrier["tracestate"] = state.to_header()
    else:
        propagator.inject(carrier, _state.set_span(span))


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span IDs (hex), or None outside a sampled span."""
    if _state.tracer is None:
        return None
    span = _state.current_span()
    if type(span) is _state.recording:
        return cast("RecordingSpan", span).hex_ids()
    context = span.get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def exemplar() -> dict[str, str] | None:
    """A histogram observation's exemplar: the current trace and span (OpenMetrics)."""
    ids = current_ids()
    return None if ids is None else {"trace_id": ids[0], "span_id": ids[1]}
