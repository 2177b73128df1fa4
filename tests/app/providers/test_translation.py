"""Translation between the internal chat model and Anthropic, and error classification."""

from __future__ import annotations

import pytest

from app.providers import ChatMessage, ErrorKind, translate_messages
from app.providers._anthropic import finish_reason
from app.providers._errors import redact, retry_after_seconds, status_error


def test_system_prompt_and_system_messages_become_anthropic_system() -> None:
    system, turns = translate_messages(
        "Agent prompt.",
        [
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "hi"),
            ChatMessage("developer", "Use Python."),
            ChatMessage("assistant", "hello"),
        ],
    )
    assert system == "Agent prompt.\n\nBe brief.\n\nUse Python."
    assert turns == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_consecutive_turns_of_one_role_are_merged() -> None:
    system, turns = translate_messages(
        "", [ChatMessage("user", "a"), ChatMessage("user", "b"), ChatMessage("assistant", "c")]
    )
    assert system == ""
    assert turns == [{"role": "user", "content": "a\n\nb"}, {"role": "assistant", "content": "c"}]


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        (None, "stop"),
    ],
)
def test_stop_reason_maps_to_finish_reason(stop_reason: str | None, expected: str) -> None:
    assert finish_reason(stop_reason) == expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.REQUEST),
        (404, ErrorKind.REQUEST),
        (422, ErrorKind.REQUEST),
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (408, ErrorKind.OVERLOADED),
        (409, ErrorKind.OVERLOADED),
        (429, ErrorKind.RATE_LIMIT),
        (500, ErrorKind.OVERLOADED),
        (502, ErrorKind.OVERLOADED),
        (503, ErrorKind.OVERLOADED),
        (529, ErrorKind.OVERLOADED),
    ],
)
def test_status_classification(status: int, kind: ErrorKind) -> None:
    error = status_error("openai", status, {"error": {"message": "nope"}}, {}, None)
    assert error.kind is kind
    assert error.retryable is (kind not in (ErrorKind.REQUEST, ErrorKind.AUTH))


def test_request_errors_keep_the_provider_message_without_keys() -> None:
    body = {"error": {"message": "bad key sk-proj-abcdefghijklmnop and my-secret-key-123 here"}}
    error = status_error("openai", 400, body, {}, "my-secret-key-123")
    assert "abcdefghijklmnop" not in error.message
    assert "my-secret-key-123" not in error.message
    assert error.message.startswith("bad key sk-proj[redacted]")


def test_auth_errors_never_carry_the_provider_message() -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-abc***xyz"}}
    error = status_error("openai", 401, body, {}, None)
    assert "sk-" not in error.message


def test_redact_leaves_ordinary_text() -> None:
    assert redact("max_tokens is too large", "secret-value") == "max_tokens is too large"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


def test_retry_after_http_date() -> None:
    seconds = retry_after_seconds({"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"})
    assert seconds is not None
    assert seconds > 1000


def test_deprecated_anthropic_models_are_reported() -> None:
    from app.config import parse_config
    from app.providers import deprecated_models

    config = parse_config(
        {
            "auth": {"enabled": False},
            "agents": {
                "old": {"provider": "anthropic", "model": "claude-3-opus-20240229"},
                "new": {"provider": "anthropic", "model": "claude-sonnet-5-5"},
                "gpt": {"provider": "openai", "model": "claude-3-opus-20240229"},
            },
        }
    )
    assert deprecated_models(config) == [
        "agents.old.model: claude-3-opus-20240229 reaches end-of-life on January 5th, 2026"
    ]
