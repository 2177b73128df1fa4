from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Iterator

import pytest
import structlog
from aiohttp import web

from app.config import AppConfig
from app.observability.logging import REDACTED, Redactor, configure_logging
from app.server import create_app
from tests.app.conftest import SECRET, bearer, make_config, make_token

OPENAI_KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
ANTHROPIC_KEY = "sk-ant-api03-ZYXWVUTSRQPONMLKJIHGFEDCBA-987654321"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    yield io.StringIO()
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def config_with_keys(fmt: str = "json") -> AppConfig:
    return make_config(
        openai_api_key="plain-openai-secret-value-42",
        anthropic_api_key="plain-anthropic-secret-value-42",
        logging={"level": "INFO", "format": fmt},
    )


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def leaky(request: web.Request) -> web.Response:
    log = structlog.get_logger("test")
    log.info(
        "calling upstream",
        headers={"Authorization": request.headers["Authorization"], "X-Api-Key": OPENAI_KEY},
        note=f"using {ANTHROPIC_KEY} and plain-openai-secret-value-42",
        api_key="plain-anthropic-secret-value-42",
    )
    logging.getLogger("openai").warning("retrying with key %s", OPENAI_KEY)
    raise RuntimeError(f"upstream rejected {OPENAI_KEY} for {request.headers['Authorization']}")


async def test_access_log_line_has_every_field(
    aiohttp_client: object, log_output: io.StringIO
) -> None:
    config = config_with_keys()
    configure_logging(config, stream=log_output)
    client = await aiohttp_client(create_app(config))  # type: ignore[operator]
    token = make_token("carol")
    response = await client.get("/health", headers={"X-Request-ID": "req-1", **bearer(token)})
    assert response.status == 200
    access = [line for line in lines(log_output) if line.get("event") == "request"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "req-1"
    assert entry["method"] == "GET"
    assert entry["route"] == "/health"
    assert entry["path"] == "/health"
    assert entry["status"] == 200
    assert entry["level"] == "info"
    assert isinstance(entry["duration_ms"], float)
    assert "timestamp" in entry
    assert entry["subject"] is None  # a public path: no token is verified


async def test_access_log_records_the_subject(
    aiohttp_client: object, log_output: io.StringIO
) -> None:
    from tests.app.conftest import add_test_routes

    config = config_with_keys()
    configure_logging(config, stream=log_output)
    client = await aiohttp_client(add_test_routes(create_app(config)))  # type: ignore[operator]
    await client.get("/test/whoami", headers=bearer(make_token("carol")))
    access = [line for line in lines(log_output) if line.get("event") == "request"]
    assert access[-1]["subject"] == "carol"


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_secrets_never_reach_the_logs(
    aiohttp_client: object, log_output: io.StringIO, fmt: str
) -> None:
    config = config_with_keys(fmt)
    configure_logging(config, stream=log_output)
    app = create_app(config)
    app.router.add_get("/test/leaky", leaky)
    client = await aiohttp_client(app)  # type: ignore[operator]
    token = make_token("dave")
    response = await client.get(
        "/test/leaky", headers={**bearer(token), "X-Request-ID": "leak-check"}
    )
    assert response.status == 500
    output = log_output.getvalue()
    assert "leak-check" in output  # the lines were captured
    assert "unhandled error" in output
    assert "retrying with key" in output
    assert REDACTED in output
    for secret in (
        token,
        OPENAI_KEY,
        ANTHROPIC_KEY,
        "plain-openai-secret-value-42",
        "plain-anthropic-secret-value-42",
        SECRET,
        "sk-proj",
        "sk-ant-api03",
    ):
        assert secret not in output, secret


def test_redactor_handles_nested_values() -> None:
    redactor = Redactor(["configured-secret-123"])
    event = {
        "event": "x",
        "nested": {"list": ["Bearer abc.def.ghi", ("sk-ant-xyzxyzxyzxyz",)]},
        "authorization": "Basic dXNlcjpwYXNzd29yZA==",
        "text": "prefix configured-secret-123 suffix",
        "count": 3,
    }
    cleaned = redactor(None, "info", event)
    assert cleaned["nested"] == {"list": [REDACTED, [REDACTED]]}
    assert cleaned["authorization"] == REDACTED
    assert cleaned["text"] == f"prefix {REDACTED} suffix"
    assert cleaned["count"] == 3


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        # Flat events take the one-search path; each secret must still go, value by value.
        ({"event": "audit", "client": "x sk-abcdefghijkl y"}, {"client": f"x {REDACTED} y"}),
        ({"event": "audit", "tools": ["ok", "configured-secret-123"]}, {"tools": ["ok", REDACTED]}),
        ({"event": "x", "token": 42}, {"token": REDACTED}),
        ({"event": "x", "Token": "short"}, {"Token": REDACTED}),
        ({"event": "bearer", "next": "abc"}, {"event": "bearer", "next": "abc"}),
        ({"event": "x", "tools": ["a", 1]}, {"tools": ["a", 1]}),
        ({"event": "x", "status": 200, "ratio": 0.5, "ok": True, "none": None}, {"status": 200}),
    ],
)
def test_redactor_flat_events(event: dict[str, object], expected: dict[str, object]) -> None:
    cleaned = Redactor(["configured-secret-123"])(None, "info", dict(event))
    for key, value in expected.items():
        assert cleaned[key] == value
    assert cleaned.keys() == event.keys()


QUICK_TEST_TEXTS = [
    "x sk-abcdef1 y",
    "Bearer a.b.c",
    "BEARER\u2003token",
    # re.IGNORECASE matches the long s for "s": the quick test must see it too.
    "ba\u017fic dXNlcjpwYXNzd29yZA==",
    "prefix configured-secret-123 suffix",
]


@pytest.mark.parametrize("text", QUICK_TEST_TEXTS)
def test_the_quick_test_passes_every_text_the_pattern_matches(text: str) -> None:
    redactor = Redactor(["configured-secret-123"])
    assert redactor._pattern.search(text)
    assert redactor._may_match(text)
    assert redactor(None, "info", {"event": "x", "value": text})["value"] != text


def test_the_quick_test_never_skips_a_match() -> None:
    """Random text around the patterns' words, in random case: whatever the pattern matches,
    the quick test lets through (a pattern added without its literal fails here)."""
    redactor = Redactor(["configured-secret-123"])
    rng = random.Random(7)
    pieces = ["sk-", "Sk-", "bearer", "basic", "ba\u017fic", "configured-secret-123", " ", "\t"]
    pieces += ["abcdefgh", "dXNlcjpw", "=", "-", ".", "\u212a", "x"]
    matched = 0
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        text = "".join(c.upper() if rng.random() < 0.3 else c for c in text)
        if redactor._pattern.search(text):
            matched += 1
            assert redactor._may_match(text), text
    assert matched > 100
