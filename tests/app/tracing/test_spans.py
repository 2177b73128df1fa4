"""Our spans (app/observability/_spans.py) behave as the OpenTelemetry API documents and the SDK
does: the sampler and the parent decide, limits apply, ended spans are frozen; their queue and
export are the SDK's batch span processor's (bounded, flushed on shutdown)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)
from prometheus_client import CollectorRegistry

from app.observability import _queue, tracing
from app.observability._spans import CurrentSpan, RecordingSpan, samples_local_children
from app.observability.metrics import Metrics

from .conftest import Collector
from .spans import KeptTracer

STATE = TraceState([("vendor", "a1")])
MIB = 1024 * 1024


def remote(sampled: bool) -> context_api.Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    parent = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=flags, trace_state=STATE)
    return set_span_in_context(NonRecordingSpan(parent))


def recording(span: trace.Span) -> RecordingSpan:
    assert isinstance(span, RecordingSpan)
    return span


# The sampler


def test_always_off_records_nothing() -> None:
    tracer = KeptTracer(ALWAYS_OFF)
    span = tracer.start_span("a")
    assert not span.is_recording()
    assert not span.get_span_context().trace_flags.sampled
    span.end()
    assert tracer.spans == []


def test_a_ratio_decides_by_trace_id_and_children_follow() -> None:
    sampler = TraceIdRatioBased(0.5)
    tracer = KeptTracer(sampler)
    decisions = set()
    for _ in range(200):
        root = tracer.start_span("root")
        context = root.get_span_context()
        sampled = context.trace_flags.sampled
        decisions.add(sampled)
        expected = sampler.should_sample(None, context.trace_id, "root").decision
        assert sampled is (expected is Decision.RECORD_AND_SAMPLE)
        child = tracer.start_span("child", set_span_in_context(root))
        assert child.get_span_context().trace_flags.sampled is sampled
        assert child.is_recording() is sampled
    assert decisions == {True, False}


@pytest.mark.parametrize(
    ("sampler", "remote_sampled", "recorded"),
    [
        (DEFAULT_OFF, True, True),
        (DEFAULT_OFF, False, False),
        (ParentBased(ALWAYS_ON), False, False),
        (ParentBasedTraceIdRatio(0.0), True, True),
        (ParentBasedTraceIdRatio(1.0), False, False),
    ],
)
def test_parent_based_samplers_follow_a_remote_parent(
    sampler: Sampler, remote_sampled: bool, recorded: bool
) -> None:
    tracer = KeptTracer(sampler)
    caller = remote(remote_sampled)
    span = tracer.start_span("server", caller, SpanKind.SERVER)
    assert span.is_recording() is recorded
    context = span.get_span_context()
    assert context.trace_id == 0x1234
    assert context.trace_state == STATE
    if recorded:
        child = tracer.start_span("child", set_span_in_context(span))
        assert child.get_span_context().trace_state == STATE
        child.end()
        span.end()
        callers = trace.get_current_span(caller).get_span_context()
        assert [s._parent for s in tracer.spans] == [context, callers]
        assert tracer.request() == tracer.official_request()  # the parent is remote


def test_a_root_under_parent_based_off_is_not_recorded() -> None:
    tracer = KeptTracer(DEFAULT_OFF)
    assert not tracer.start_span("root").is_recording()


class Named(Sampler):
    """A sampler of our own: drops the spans called ``skip``, whatever their parent."""

    def should_sample(self, parent_context, trace_id, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        parent = trace.get_current_span(parent_context).get_span_context()
        decision = Decision.DROP if name == "skip" else Decision.RECORD_AND_SAMPLE
        return SamplingResult(decision, {"sampled.by": "named"}, parent.trace_state)

    def get_description(self) -> str:
        return "Named"


def test_any_other_sampler_is_asked_for_every_span() -> None:
    tracer = KeptTracer(Named())
    root = tracer.start_span("root", attributes={"given": 1})
    under_root = set_span_in_context(root)
    assert not tracer.start_span("skip", under_root).is_recording()
    tracer.start_span("kept", under_root).end()
    root.end()
    assert [dict(span._attributes) for span in tracer.spans] == [
        {"sampled.by": "named"},
        {"sampled.by": "named"},
    ]


def test_which_samplers_decide_a_local_sampled_parents_children_alike() -> None:
    standard = [ALWAYS_ON, TraceIdRatioBased(0.3), DEFAULT_OFF, ParentBasedTraceIdRatio(0.3)]
    assert all(samples_local_children(sampler) for sampler in standard)
    local_off = ParentBased(ALWAYS_ON, local_parent_sampled=ALWAYS_OFF)
    assert not any(samples_local_children(sampler) for sampler in (local_off, Named()))
    tracer = KeptTracer(local_off)
    root = tracer.start_span("root")
    assert not tracer.start_span("child", set_span_in_context(root)).is_recording()


def test_a_root_span_has_a_random_trace_id_flag() -> None:
    # As the SDK's (W3C Trace Context level 2), sent on in traceparent.
    root = KeptTracer().start_span("root")
    assert root.get_span_context().trace_flags == TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID


# Limits


def assert_recorded_as_the_sdk(
    limits: SpanLimits, initial: dict[str, Any], later: list[tuple[Any, Any]]
) -> RecordingSpan:
    sdk_span = (
        TracerProvider(span_limits=limits).get_tracer("x").start_span("a", None, attributes=initial)
    )
    span = recording(KeptTracer(limits=limits).start_span("a", attributes=initial))
    for key, value in later:
        sdk_span.set_attribute(key, value)
        span.set_attribute(key, value)
    assert isinstance(sdk_span, ReadableSpan)
    assert sdk_span.attributes is not None
    assert list(span.attributes.items()) == list(sdk_span.attributes.items())
    assert span.readable().dropped_attributes == sdk_span.dropped_attributes
    return span


def test_attribute_limits() -> None:
    limits = SpanLimits(max_span_attributes=2, max_span_attribute_length=3)
    later = [("a", "xyzzy"), ("d", 3), ("e", ["long list item"]), ("e", "moved")]
    span = assert_recorded_as_the_sdk(limits, {"a": "abcdef", "b": 1, "c": 2}, later)
    assert span.readable().dropped_attributes == 4
    span = assert_recorded_as_the_sdk(SpanLimits(max_span_attributes=0), {"a": 1}, [("b", 2)])
    assert span.readable().dropped_attributes == 2
    span = assert_recorded_as_the_sdk(SpanLimits(), {"a": 1}, [(str(n), n) for n in range(200)])
    assert span.readable().dropped_attributes == 201 - 128


def test_values_are_cleaned_as_the_sdk_does() -> None:
    words = ["one", "two"]
    later: list[tuple[Any, Any]] = [
        ("list", words),
        ("none", None),
        ("mixed", [1, "two"]),
        ("", "no key"),
        (1, "not a str"),
        ("mapping", {"k": [1]}),
        ("bytes", b"x"),
        ("object", object()),
    ]
    span = assert_recorded_as_the_sdk(SpanLimits(), {"": 1, "plain": "v", "set": {1}}, later)
    words.append("three")  # kept as a tuple: later changes of the list do not show
    assert span.attributes["list"] == ("one", "two")
    with pytest.raises(TypeError):
        span.attributes["x"] = 1  # type: ignore[index]
    span.end()
    tracer = span._tracer
    assert isinstance(tracer, KeptTracer)
    assert tracer.request() == tracer.official_request()  # the official encoder's way


# A span's life


def test_a_span_ended_twice_is_exported_once(caplog: pytest.LogCaptureFixture) -> None:
    tracer = KeptTracer()
    span = tracer.start_span("a")
    span.end(end_time=10)
    with caplog.at_level(logging.WARNING):
        span.end(end_time=20)
    assert len(tracer.encoded) == 1
    assert recording(span)._end_time == 10
    assert "ended span" in caplog.text


def test_an_ended_span_changes_no_more() -> None:
    tracer = KeptTracer()
    span = recording(tracer.start_span("a", attributes={"k": "v"}))
    span.end()
    assert not span.is_recording()
    span.set_attribute("late", 1)
    span.set_attributes({"later": 2})
    span.set_status(StatusCode.ERROR, "too late")
    span.add_event("late event")
    span.update_name("renamed")
    span.record_exception(ValueError("late"))
    assert dict(span.attributes) == {"k": "v"}
    assert span._status.status_code is StatusCode.UNSET
    assert span._events is None
    assert span._name == "a"
    assert tracer.request() == tracer.official_request()


def test_set_status_as_the_api_documents(caplog: pytest.LogCaptureFixture) -> None:
    tracer = KeptTracer()
    span = recording(tracer.start_span("a"))
    span.set_status(StatusCode.UNSET)
    assert span._status.status_code is StatusCode.UNSET
    span.set_status(StatusCode.ERROR, "first")
    assert (span._status.status_code, span._status.description) == (StatusCode.ERROR, "first")
    with caplog.at_level(logging.WARNING):
        span.set_status(Status(StatusCode.ERROR, "second"), "ignored")
    assert span._status.description == "second"
    assert "ignored" in caplog.text
    span.set_status(Status(StatusCode.UNSET))  # no change
    assert span._status.status_code is StatusCode.ERROR
    span.set_status(StatusCode.OK, "a description goes with ERROR only")
    assert (span._status.status_code, span._status.description) == (StatusCode.OK, None)
    span.set_status(StatusCode.ERROR, "OK is final")
    assert span._status.status_code is StatusCode.OK
    span.end()
    assert tracer.request() == tracer.official_request()


def test_record_exception_and_a_failed_with_block() -> None:
    tracer = KeptTracer()
    span = recording(tracer.start_span("a"))
    span.record_exception(KeyError("k"), {"extra": 1}, timestamp=5)
    with pytest.raises(ValueError, match="boom"), span:
        raise ValueError("boom")
    first, second = span.readable().events
    assert (first.name, first.timestamp) == ("exception", 5)
    assert first.attributes is not None
    assert first.attributes["exception.type"] == "KeyError"
    assert first.attributes["exception.escaped"] == "False"
    assert first.attributes["extra"] == 1
    assert second.attributes is not None
    assert second.attributes["exception.message"] == "boom"
    assert second.attributes["exception.escaped"] == "True"
    assert "Traceback" in str(second.attributes["exception.stacktrace"])
    assert span._status.description == "ValueError: boom"
    assert tracer.request() == tracer.official_request()


def test_start_as_current_span() -> None:
    tracer = KeptTracer()
    with tracer.start_as_current_span("outer") as outer:
        assert trace.get_current_span() is outer
        with tracer.start_as_current_span("inner") as inner:
            assert inner.get_span_context().trace_id == outer.get_span_context().trace_id
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert [span._name for span in tracer.spans] == ["inner", "outer"]
    assert tracer.spans[0]._parent == outer.get_span_context()


# What the helpers rely on


def test_the_current_span_is_the_apis() -> None:
    current = CurrentSpan()
    span = KeptTracer().start_span("a")
    token = current.attach(span)
    assert trace.get_current_span() is span
    assert current.get() is span
    current.detach(token)
    assert trace.get_current_span() is trace.INVALID_SPAN
    with trace.use_span(span):
        assert current.get() is span
    # Read and set directly on the API's ContextVar, not through the API's functions.
    assert current.get is not trace.get_current_span


def test_detaching_in_another_context_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import contextvars

    current = CurrentSpan()
    token = contextvars.copy_context().run(current.attach, KeptTracer().start_span("a"))
    with caplog.at_level(logging.ERROR):
        current.detach(token)
    assert "Failed to detach context" in caplog.text


class RecordOnly(Sampler):
    """Records every span without sampling it (not exported, its flags say so)."""

    def should_sample(self, parent_context, trace_id, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        parent = trace.get_current_span(parent_context).get_span_context()
        return SamplingResult(Decision.RECORD_ONLY, None, parent.trace_state)

    def get_description(self) -> str:
        return "RecordOnly"


@pytest.mark.parametrize("state", [TraceState(), STATE])
@pytest.mark.parametrize("sampler", [ALWAYS_ON, RecordOnly()])
def test_our_spans_propagate_as_the_apis_propagator_does(
    configured: tuple[Collector, pytest.MonkeyPatch], state: TraceState, sampler: Sampler
) -> None:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    assert tracing.configure()
    tracer = KeptTracer(sampler)
    span = recording(tracer.start_span("a", remote(True) if state else None))
    assert span.get_span_context().trace_flags.sampled is (sampler is ALWAYS_ON)
    expected: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(expected, set_span_in_context(span))
    ours: dict[str, str] = {}
    tracing.inject(ours, span)
    assert ours == expected
    assert ("tracestate" in ours) is bool(state)
    with tracing.current(span):
        current: dict[str, str] = {}
        tracing.inject(current)
    assert current == expected


def test_a_span_context_is_the_tuple_the_encoder_reads() -> None:
    context = SpanContext(1, 2, True, TraceFlags(1), STATE)
    assert tuple(context)[:5] == (1, 2, True, TraceFlags(1), STATE)


# Configured from the environment: the SDK's batch span processor in front of the exporter


@pytest.fixture
def configured(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Collector, pytest.MonkeyPatch]]:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    yield collector, monkeypatch
    tracing.shutdown()


def exported_names(collector: Collector) -> list[str]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    names = []
    for body in collector.bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for scope in request.resource_spans[0].scope_spans:
            names += [span.name for span in scope.spans]
    return names


def end(name: str) -> None:
    span = tracing.start_span(name, {})
    assert span is not None
    span.end()


def test_shutdown_and_flush_export_what_ended(configured: tuple[Collector, object]) -> None:
    collector, _ = configured
    assert tracing.configure()
    end("a")
    assert tracing.flush()
    assert exported_names(collector) == ["a"]
    end("b")
    assert tracing.shutdown()
    assert exported_names(collector) == ["a", "b"]
    assert not tracing.enabled()


def test_the_environment_configures_sampler_limits_and_resource(
    configured: tuple[Collector, pytest.MonkeyPatch],
) -> None:
    collector, env = configured
    env.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    env.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    env.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "1")
    env.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
    assert tracing.configure()
    root = tracing.start_span("root", {})
    assert root is not None
    assert not root.is_recording()
    with tracing.current(root):
        assert tracing.start_span("under an unsampled span", {}) is None
    span = tracing.start_span("server", {"a": 1, "b": 2}, parent=tracing.extract(
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    ))  # fmt: skip
    assert span is not None
    assert span.is_recording()
    span.end()
    tracing.shutdown()
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    (request,) = (ExportTraceServiceRequest.FromString(body) for body in collector.bodies)
    resource = {a.key: a.value.string_value for a in request.resource_spans[0].resource.attributes}
    assert resource["deployment.environment.name"] == "test"
    (sent,) = request.resource_spans[0].scope_spans[0].spans
    assert [a.key for a in sent.attributes] == ["b"]  # the SDK's way: the oldest goes
    assert sent.dropped_attributes_count == 1


def test_a_full_queue_drops_the_oldest_spans(
    configured: tuple[Collector, pytest.MonkeyPatch], caplog: pytest.LogCaptureFixture
) -> None:
    collector, env = configured
    env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "2")
    env.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    assert tracing.configure()
    collector.answering.clear()  # the first export waits for its answer
    end("a")
    end("b")  # a full batch: the processor's thread exports it
    assert collector.received.wait(10)
    with caplog.at_level(logging.WARNING):
        for name in "cdef":
            end(name)
    assert caplog.text.count("Queue full, dropping spans") == 1  # at most once per 20 s
    collector.answering.set()
    tracing.shutdown()
    assert exported_names(collector) == ["a", "b", "e", "f"]


def counted_drops() -> Callable[[str], float | None]:
    """The application metric tracing counts its dropped spans in, read by reason."""
    registry = CollectorRegistry()
    tracing.count_drops(Metrics(registry).trace_spans_dropped_total)
    name = "agentsmcp_trace_spans_dropped_total"
    return lambda reason: registry.get_sample_value(name, {"reason": reason})


def end_big(name: str, size: int = MIB) -> None:
    span = tracing.start_span(name, {"gen_ai.input.messages": "x" * size})
    assert span is not None
    span.end()


def test_the_queue_holds_its_byte_budget_at_most(
    configured: tuple[Collector, pytest.MonkeyPatch], caplog: pytest.LogCaptureFixture
) -> None:
    collector, env = configured
    env.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    env.setattr(_queue, "MAX_QUEUED_SPAN_BYTES", 4 * MIB + MIB // 2)
    assert tracing.configure()
    dropped = counted_drops()
    collector.answering.clear()  # the first export waits for its answer
    end_big("a")
    end_big("b")  # a full batch: the processor's thread exports it, and holds it: it counts
    assert collector.received.wait(10)
    with caplog.at_level(logging.WARNING):
        for name in "cdef":  # two fit beside a and b; each of the others pushes the oldest out
            end_big(name)
    assert caplog.text.count("Queue full, dropping spans") == 1
    assert dropped("queue_full") == 2
    collector.answering.set()
    tracing.shutdown()
    assert exported_names(collector) == ["a", "b", "e", "f"]


def test_a_span_over_the_byte_budget_is_dropped_alone(
    configured: tuple[Collector, pytest.MonkeyPatch], caplog: pytest.LogCaptureFixture
) -> None:
    _, env = configured
    env.setattr(_queue, "MAX_QUEUED_SPAN_BYTES", 4 * MIB)
    assert tracing.configure()
    dropped = counted_drops()
    end("small")
    with caplog.at_level(logging.WARNING):
        end_big("huge", 4 * MIB)
    end("after")
    assert f"bytes: over the queue's budget of {4 * MIB}" in caplog.text
    assert dropped("queue_full") == 1
    tracing.shutdown()
    assert exported_names(configured[0]) == ["small", "after"]
