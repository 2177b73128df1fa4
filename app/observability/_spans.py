"""Recording spans of our own behind the OpenTelemetry API's ``Span`` and ``Tracer``.

The SDK's span (``opentelemetry.sdk.trace._Span``) costs about 11 us to start and end and 0.75
us per attribute (a lock, ``BoundedAttributes`` validating every value, events and links lists,
span processors), and lives on in the export queue long enough to reach the oldest GC
generation (bench/FINDINGS.md, section 12). A :class:`RecordingSpan` holds its fields in slots
and a plain dict; when it ends it is encoded to its OTLP bytes at once (``_otlp.py``) and only
the bytes wait for export. What is configuration stays the SDK's: the sampler as
``TracerProvider`` builds it from ``OTEL_TRACES_SAMPLER`` / ``_ARG``, the ``SpanLimits`` from
the environment, the resource, the batch processor's queue and thread, the exporter. Events and
links (which this server does not record) are kept as the SDK keeps them.

Imported only when tracing is on.
"""

from __future__ import annotations

import logging
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType, TracebackType
from typing import Any, cast

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes, _clean_attribute_value
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util import types

_logger = logging.getLogger(__name__)

UNSET_STATUS = Status(StatusCode.UNSET)
# The values a span keeps as they are given; anything else is cleaned (lists become tuples)
# or dropped as the SDK does.
_PLAIN = frozenset({str, bool, int, float})
# A root span's trace ID is random (W3C Trace Context level 2): the SDK flags it so.
_ROOT_FLAGS = {
    True: TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID),
    False: TraceFlags(TraceFlags.RANDOM_TRACE_ID),
}


def samples_local_children(sampler: Sampler) -> bool:
    """Whether ``sampler`` samples every span whose parent is a local sampled span, as the
    standard ones do (a ratio by trace ID decided the same for the parent, the parent-based
    ones with their default for a local sampled parent); any other sampler is asked."""
    if sampler is ALWAYS_ON or type(sampler) is TraceIdRatioBased:
        return True
    return type(sampler) in {ParentBased, ParentBasedTraceIdRatio} and (
        ",localParentSampled:AlwaysOnSampler," in sampler.get_description()
    )


def _random_id(bits: int) -> int:
    while not (value := _getrandbits(bits)):
        pass
    return value


_getrandbits = random.getrandbits
_SAMPLED = TraceFlags.SAMPLED


class SpanTracer(trace.Tracer):
    """Starts :class:`RecordingSpan` s as the SDK's tracer would (the sampler decides, the parent
    gives the trace), and hands each ended, sampled one to ``emit`` as its OTLP bytes."""

    def __init__(
        self,
        sampler: Sampler,
        limits: SpanLimits,
        resource: Resource,
        scope: InstrumentationScope,
        emit: Callable[[bytes], None],
        encode: Callable[[RecordingSpan], bytes],
    ) -> None:
        self.sampler = sampler
        self.limits = limits
        self.resource = resource
        self.scope = scope
        self.emit = emit
        self.encode = encode
        # None: no limit.
        limit = limits.max_span_attributes
        self.max_attributes: int = sys.maxsize if limit is None else limit
        self.max_length: int | None = limits.max_span_attribute_length
        self.children_sampled = samples_local_children(sampler)

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        parent = trace.get_current_span(context).get_span_context()
        span = self.start(name, parent, context, kind, attributes, links)
        if isinstance(span, RecordingSpan):
            if start_time is not None:
                span._start_time = start_time
            span._record_exception = record_exception
            span._set_status_on_exception = set_status_on_exception
        return span

    def start_under(
        self,
        current: trace.Span,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, types.AttributeValue],
    ) -> trace.Span | None:
        """A span under the current span ``current``; None under one that is valid but does not
        record (the request was not sampled, or the span ended)."""
        if type(current) is RecordingSpan:
            if current._end_time is not None:
                return None
            return self.start(name, current._context, None, kind, attributes)
        parent = current.get_span_context()
        if parent.is_valid and not current.is_recording():
            return None
        return self.start(name, parent, None, kind, attributes)

    def start(
        self,
        name: str,
        parent: SpanContext,
        context: Context | None,
        kind: SpanKind,
        attributes: types.Attributes,
        links: Sequence[Link] | None = None,
    ) -> trace.Span:
        """A span under ``parent``: the span context of ``context``, which the caller found."""
        initial: types.Attributes
        # A SpanContext is a tuple: trace ID, span ID, remote, flags, state, valid (its
        # properties cost a call each).
        if self.children_sampled and parent[5] and not parent[2] and parent[3] & _SAMPLED:
            # What every standard sampler decides for a local sampled parent: no call needed.
            # As SpanContext() makes it, without its checks: the IDs are valid.
            span_id = _getrandbits(64) or _random_id(64)
            fields = (parent[0], span_id, False, parent[3], parent[4], True)
            span_context: SpanContext = tuple.__new__(SpanContext, fields)
            initial = attributes
        else:
            span_context, initial = self._decide(parent, context, name, kind, attributes, links)
            if initial is None:
                return NonRecordingSpan(span_context)
        span = RecordingSpan(
            name, span_context, parent if parent[5] else None, kind, self, None, initial
        )
        if links:
            for link in links:
                span.add_link(link.context, link.attributes)
        return span

    def _decide(
        self,
        parent: SpanContext,
        context: Context | None,
        name: str,
        kind: SpanKind,
        attributes: types.Attributes,
        links: Sequence[Link] | None,
    ) -> tuple[SpanContext, types.Attributes]:
        """The sampler's decision: the new span's context, and its attributes (None when it
        does not record)."""
        trace_id = parent.trace_id if parent.is_valid else _random_id(128)
        result = self.sampler.should_sample(context, trace_id, name, kind, attributes, links)
        sampled = result.decision is Decision.RECORD_AND_SAMPLE
        random_id = parent.trace_flags.random_trace_id if parent.is_valid else True
        flags = _ROOT_FLAGS[sampled] if random_id else TraceFlags(int(sampled))
        span_context = SpanContext(trace_id, _random_id(64), False, flags, result.trace_state)
        if result.decision is Decision.DROP:
            return span_context, None
        return span_context, result.attributes

    # The API's own decorator for this is private: the same context manager, typed apart.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception,
            set_status_on_exception,
        )  # fmt: skip
        with trace.use_span(span, end_on_exit, record_exception, set_status_on_exception):
            yield span

    def ended(self, span: RecordingSpan) -> None:
        """Queue a sampled span that ended for export, as its OTLP bytes."""
        self.emit(self.encode(span))


class RecordingSpan(trace.Span):
    """A recording span's fields until :meth:`end`; then, if sampled, encoded and queued, and
    the span itself dropped (no cycles: its reference count frees it, not the cyclic GC). Used
    from one thread at a time (the event loop), unlike the SDK's span, which takes a lock."""

    __slots__ = (
        "_attributes",
        "_context",
        "_dropped_attributes",
        "_end_time",
        "_events",
        "_hex_ids",
        "_kind",
        "_links",
        "_name",
        "_parent",
        "_record_exception",
        "_set_status_on_exception",
        "_start_time",
        "_status",
        "_tracer",
    )

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        tracer: SpanTracer,
        start_time: int | None = None,
        attributes: types.Attributes = None,
    ) -> None:
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._tracer = tracer
        self._attributes: dict[str, types.AttributeValue] = {}
        self._dropped_attributes = 0
        self._events: BoundedList[Event] | None = None
        self._links: BoundedList[Link] | None = None
        self._status: Status = UNSET_STATUS
        self._start_time = time.time_ns() if start_time is None else start_time
        self._end_time: int | None = None
        self._record_exception = True
        self._set_status_on_exception = True
        self._hex_ids: tuple[str, str] | None = None
        if attributes:
            self._set_initial(attributes)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name="{self._name}", context={self._context})'

    def get_span_context(self) -> SpanContext:
        return self._context

    def hex_ids(self) -> tuple[str, str] | None:
        """The trace and span IDs in hex, if sampled (log lines, exemplars)."""
        return self._formatted_ids() if self._context[3] & _SAMPLED else None

    def traceparent(self) -> str:
        """The W3C ``traceparent`` header of the span, as the API's propagator writes it."""
        trace_id, span_id = self._formatted_ids()
        return f"00-{trace_id}-{span_id}-{self._context[3]:02x}"

    def _formatted_ids(self) -> tuple[str, str]:
        ids = self._hex_ids
        if ids is None:  # kept for the next log line
            context = self._context
            ids = self._hex_ids = format(context[0], "032x"), format(context[1], "016x")
        return ids

    @property
    def attributes(self) -> Mapping[str, types.AttributeValue]:
        return MappingProxyType(self._attributes)

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        # As the SDK's BoundedAttributes: an invalid key is dropped, the value cleaned (a
        # sequence becomes a tuple, a string is cut to the length limit), a key set again
        # moves to the end, and a full span drops its oldest attribute.
        if self._end_time is not None:
            _logger.warning("Setting attribute on ended span.")
            return
        if not key or not isinstance(key, str):
            _logger.warning("invalid key `%s`. must be non-empty string.", key)
            self._dropped_attributes += 1
            return
        tracer = self._tracer
        if type(value) not in _PLAIN or tracer.max_length is not None:
            value = _clean_attribute_value(value, tracer.max_length)
        attributes = self._attributes
        if key in attributes:
            del attributes[key]
        elif len(attributes) >= tracer.max_attributes:
            self._dropped_attributes += 1
            if not attributes:  # a limit of 0
                return
            _logger.warning("Attributes dict is full. Dropping the oldest key-value pair.")
            del attributes[next(iter(attributes))]
        attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def _set_initial(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        """The attributes given at the start: taken as they are when all are plain values
        under plain keys within the limits (the usual case), else one by one."""
        tracer = self._tracer
        if tracer.max_length is None and len(attributes) <= tracer.max_attributes:
            for key, value in attributes.items():
                if type(value) not in _PLAIN or type(key) is not str or not key:
                    break
            else:
                self._attributes = dict(attributes)
                return
        self.set_attributes(attributes)

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        if self._end_time is not None:
            _logger.warning("Calling add_event on an ended span.")
            return
        limits = self._tracer.limits
        if self._events is None:
            self._events = BoundedList(limits.max_events)
        bounded = BoundedAttributes(
            limits.max_event_attributes, attributes, max_value_len=limits.max_attribute_length
        )
        self._events.append(
            Event(name, bounded, time.time_ns() if timestamp is None else timestamp)
        )

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._end_time is not None:
            _logger.warning("Calling add_link on an ended span.")
            return
        if context is None or (not context.is_valid and not attributes):
            return  # The SDK's rule for a link worth keeping.
        limits = self._tracer.limits
        if self._links is None:
            self._links = BoundedList(limits.max_links)
        bounded = BoundedAttributes(
            limits.max_link_attributes,
            attributes,
            max_value_len=limits.max_attribute_length,
            immutable=True,
        )
        self._links.append(Link(context, bounded))

    def update_name(self, name: str) -> None:
        if self._end_time is not None:
            _logger.warning("Calling update_name on an ended span.")
            return
        self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # As the SDK: OK is final, UNSET is no change, a description goes with ERROR only.
        if self._end_time is not None:
            _logger.warning("Calling set_status on an ended span.")
            return
        if self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                _logger.warning("Description %s ignored: use a Status or a StatusCode", description)
            self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        module, qualname = type(exception).__module__, type(exception).__qualname__
        if module not in {"", "builtins"}:
            qualname = f"{module}.{qualname}"
        event: dict[str, types.AttributeValue] = {
            "exception.type": qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event.update(attributes)
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            _logger.warning("Calling end() on an ended span.")
            return
        self._end_time = time.time_ns() if end_time is None else end_time
        if self._context[3] & _SAMPLED:
            self._tracer.ended(self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if exc_val is not None and self.is_recording():
            if self._record_exception:
                self.record_exception(exc_val, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{exc_type.__name__}: {exc_val}"))  # type: ignore[union-attr]
        super().__exit__(exc_type, exc_val, exc_tb)

    def readable(self) -> ReadableSpan:
        """The span as the SDK's ``ReadableSpan`` (the official encoder's input)."""
        tracer = self._tracer
        attributes = BoundedAttributes(
            tracer.max_attributes, self._attributes, max_value_len=tracer.max_length, immutable=True
        )
        attributes.dropped = self._dropped_attributes
        return ReadableSpan(
            name=self._name,
            context=self._context,
            parent=self._parent,
            resource=tracer.resource,
            attributes=attributes,
            events=self._events or BoundedList(tracer.limits.max_events),
            links=self._links or BoundedList(tracer.limits.max_links),
            kind=self._kind,
            status=self._status,
            start_time=self._start_time,
            end_time=self._end_time,
            instrumentation_scope=tracer.scope,
        )


class CurrentSpan:
    """The current span, read and made current on the API's runtime context directly: its
    ``ContextVar`` when it is the default ``contextvars`` one (each layer of the API's
    ``get_current_span`` / ``set_span_in_context`` / ``attach`` is a Python call, and a streamed
    run makes its span current around every item), else through the API."""

    __slots__ = ("attach", "detach", "get")

    def __init__(self) -> None:
        from opentelemetry import context as api
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

        self.get: Callable[[], trace.Span] = trace.get_current_span
        self.attach: Callable[[trace.Span], object] = _api_attach
        self.detach: Callable[[Any], None] = api.detach
        runtime = api._RUNTIME_CONTEXT
        if type(runtime) is ContextVarsRuntimeContext:
            self._bind(runtime._current_context)

    def _bind(self, var: ContextVar[Context]) -> None:
        from opentelemetry.trace.propagation import _SPAN_KEY

        get_context, set_context, reset = var.get, var.set, var.reset
        invalid, set_item = trace.INVALID_SPAN, dict.__setitem__

        def get() -> trace.Span:
            return cast(trace.Span, get_context().get(_SPAN_KEY, invalid))

        def attach(span: trace.Span) -> object:
            context = Context(get_context())  # a copy, as set_span_in_context makes
            set_item(context, _SPAN_KEY, span)
            return set_context(context)

        def detach(token: Any) -> None:
            try:
                reset(token)
            except Exception:  # As the API's detach: a token of another context.
                _logger.exception("Failed to detach context")

        self.get, self.attach, self.detach = get, attach, detach


def _api_attach(span: trace.Span) -> object:
    from opentelemetry import context as api

    return api.attach(trace.set_span_in_context(span))
