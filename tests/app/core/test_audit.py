"""The audit event as it leaves the process: one JSON line through the configured logging
(redaction and rendering included), named ``agentsmcp.audit`` for routing."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from app.core import AUDIT_LOGGER, AuditRecord
from app.observability.logging import configure_logging
from tests.app.conftest import make_config


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    yield io.StringIO()
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def test_an_audit_event_is_one_json_line_of_its_own_logger(output: io.StringIO) -> None:
    # Configured after app.core.audit was imported, as in production (python -m app).
    configure_logging(make_config(logging={"format": "json"}), stream=output)
    record = AuditRecord("openai", "coding", "req-1", "alice", "agentsmcp", "curl/8.5")
    record.refused("forbidden")
    record.emit()
    (line,) = [json.loads(text) for text in output.getvalue().splitlines()]
    assert line["logger"] == AUDIT_LOGGER
    assert line["event"] == "audit"
    assert line["timestamp"].endswith("Z")
    assert {key: line[key] for key in ("request_id", "subject", "issuer", "client")} == {
        "request_id": "req-1",
        "subject": "alice",
        "issuer": "agentsmcp",
        "client": "curl/8.5",
    }
    assert (line["outcome"], line["reason"], line["front_door"]) == (
        "refused",
        "forbidden",
        "openai",
    )
