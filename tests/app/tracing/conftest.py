"""Tracing on, exporting to a real Jaeger (tests/app/tracing/jaeger.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from app.observability import tracing

from .jaeger import BINARY, Jaeger


@pytest.fixture(scope="session")
def jaeger() -> Iterator[Jaeger]:
    if not BINARY.exists():
        pytest.skip(f"{BINARY} is missing: run `make jaeger` (scripts/e2e-tools.sh jaeger)")
    server = Jaeger()
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture
def traced(jaeger: Jaeger, monkeypatch: pytest.MonkeyPatch) -> Iterator[Jaeger]:
    """The standard OpenTelemetry environment pointing at ``jaeger``: apps created in the test
    trace everything (100% sampled)."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.otlp_endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "agentsmcp-test")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    yield jaeger
    tracing.shutdown()


def new_traceparent() -> tuple[str, str, str]:
    """A client's (trace ID, span ID, traceparent header)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"
