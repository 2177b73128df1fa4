"""Tracing on, exporting to a real Jaeger (tests/app/tracing/jaeger.py)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

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


class Collector:
    """A local OTLP endpoint keeping every body it receives; :attr:`answering` cleared holds
    the answers back (an exporter stuck in a slow export)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.received = threading.Event()
        self.answering = threading.Event()
        self.answering.set()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                collector.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                collector.received.set()
                collector.answering.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}/v1/traces"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.answering.set()
        self._server.shutdown()
        self._thread.join()


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.stop()
