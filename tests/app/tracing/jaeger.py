"""A real Jaeger v2 (all-in-one, memory storage) on loopback ports, built by
``scripts/e2e-tools.sh jaeger`` (``make jaeger``), and its query API."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.app.tools.conftest import free_port, stop_process

ROOT = Path(__file__).resolve().parents[3]
BINARY = ROOT / "build" / "e2e-tools" / "bin" / "jaeger"
START_SECONDS = 60.0

CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    # No self-tracing: it exports to localhost:4317, which nothing serves here, and stopping
    # then waits 10 s for that export.
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


@dataclass
class Span:
    """One span of a trace read back from Jaeger."""

    span_id: str
    parent_id: str | None
    name: str
    service: str
    tags: dict[str, Any]


@dataclass
class Trace:
    spans: list[Span]
    raw: str

    def named(self, name: str) -> list[Span]:
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> Span:
        found = self.named(name)
        assert len(found) == 1, (name, [span.name for span in self.spans])
        return found[0]

    def children(self, parent: Span) -> list[Span]:
        return [span for span in self.spans if span.parent_id == parent.span_id]


class Jaeger:
    def __init__(self) -> None:
        self.otlp_port, self.query_port = free_port(), free_port()
        directory = Path(tempfile.mkdtemp(prefix="agentsmcp-jaeger-"))
        config = directory / "config.yaml"
        config.write_text(
            CONFIG.format(otlp=self.otlp_port, query=self.query_port, query_grpc=free_port()),
            encoding="utf-8",
        )
        self.log = directory / "jaeger.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BINARY), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.otlp_port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("jaeger exited: " + self.log.read_text(errors="replace")[-2000:])
            with contextlib.suppress(OSError):
                for port in (self.otlp_port, self.query_port):
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"jaeger did not listen within {START_SECONDS:g} s")

    def stop(self) -> None:
        stop_process(self.process)

    def trace(self, trace_id: str) -> Trace | None:
        url = f"http://127.0.0.1:{self.query_port}/api/traces/{trace_id}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                raw = response.read().decode()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        data = json.loads(raw)["data"]
        if not data:
            return None
        return Trace(_spans(data[0]), raw)

    def wait_for(
        self, trace_id: str, complete: Callable[[Trace], bool], within: float = 20.0
    ) -> Trace:
        """The trace once ``complete(trace)`` holds (spans arrive in batches)."""
        deadline = time.monotonic() + within
        trace = None
        while time.monotonic() < deadline:
            trace = self.trace(trace_id)
            if trace is not None and complete(trace):
                return trace
            time.sleep(0.2)
        names = [span.name for span in trace.spans] if trace is not None else None
        raise AssertionError(f"trace {trace_id} incomplete after {within:g} s: {names}")


def _spans(data: dict[str, Any]) -> list[Span]:
    services = {key: value["serviceName"] for key, value in data["processes"].items()}
    spans = []
    for span in data["spans"]:
        parents = [
            ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"
        ]
        spans.append(
            Span(
                span_id=span["spanID"],
                parent_id=parents[0] if parents else None,
                name=span["operationName"],
                service=services[span["processID"]],
                tags={tag["key"]: tag["value"] for tag in span["tags"]},
            )
        )
    return spans
