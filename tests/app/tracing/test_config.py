"""Tracing from the standard OpenTelemetry environment: off (and none of its modules
imported) without it, refused for a protocol it does not speak, log lines carrying the IDs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
import structlog

from app.config import parse_config
from app.observability import tracing
from app.observability.logging import configure_logging

from .jaeger import ROOT, Jaeger

PROBE = """
import asyncio, sys
TRACING_MODULES = (
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.trace.propagation.tracecontext",
)
from aiohttp import web
from app.config import parse_config
from app.server import create_app

data = {"jwt_secret_key": "x" * 40, "openai_api_key": "sk-test",
        "agents": {"a": {"provider": "openai", "model": "gpt-4o"}}}

async def main():
    runner = web.AppRunner(create_app(parse_config(data)))
    await runner.setup()
    print(*(name in sys.modules for name in TRACING_MODULES))
    await runner.cleanup()

asyncio.run(main())
"""


def probe(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def test_without_the_environment_no_tracing_module_is_imported() -> None:
    # redis imports opentelemetry.sdk.metrics when it is installed (its own optional metrics):
    # what tracing would load (the trace SDK, the exporter, the propagator) stays out.
    assert probe({}) == "False False False"


def test_with_an_endpoint_the_sdk_and_exporter_are_loaded() -> None:
    loaded = probe(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_BSP_SCHEDULE_DELAY": "60000"}
    )
    assert loaded == "True True True"


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_requested(environ: dict[str, str], on: bool) -> None:
    assert tracing.requested(environ) is on


def test_grpc_is_refused_clearly() -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    with pytest.raises(tracing.TracingConfigError, match="http/protobuf"):
        tracing.configure(environ)
    assert not tracing.enabled()


def test_log_lines_carry_trace_and_span_ids(traced: Jaeger) -> None:
    assert tracing.configure()
    stream = io.StringIO()
    configure_logging(parse_config({"jwt_secret_key": "x" * 40}), stream=stream)
    span = tracing.start_span("test", {})
    assert span is not None
    with tracing.current(span):
        structlog.get_logger("test").info("inside")
    span.end()
    structlog.get_logger("test").info("outside")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in outside
