"""Server configs whose providers point at a :class:`FakeServer` (for tests and fault injection)."""

from __future__ import annotations

from typing import Any

from app.config import AppConfig, parse_config

from ._server import FakeServer

OPENAI_KEY = "test-openai-key-0123456789abcdef"
ANTHROPIC_KEY = "test-anthropic-key-fedcba9876543210"
JWT_SECRET = "test-secret-that-is-long-enough-for-production-use"

DEFAULT_AGENTS: dict[str, dict[str, Any]] = {
    "coding": {
        "type": "coding",
        "provider": "openai",
        "model": "gpt-4o",
        "system_prompt": "You are a careful engineer.",
        "timeout": 10,
        "max_tokens": 256,
        "fallback": "coding-claude",
    },
    "coding-claude": {
        "type": "coding",
        "provider": "anthropic",
        "model": "claude-sonnet-5-5",
        "system_prompt": "You are a careful engineer.",
        "timeout": 10,
        "max_tokens": 256,
    },
}


def agent_config(
    fake: FakeServer,
    *,
    agents: dict[str, dict[str, Any]] | None = None,
    max_retries: int = 2,
    provider_timeout: float = 30,
    keys: bool = True,
    **sections: Any,
) -> AppConfig:
    """A config with the default agents (or ``agents``), providers on ``fake``, auth on with
    :data:`JWT_SECRET`, rate limits off; ``sections`` replace top-level config sections."""
    data: dict[str, Any] = {
        "environment": "development",
        "jwt_secret_key": JWT_SECRET,
        "rate_limit": {"enabled": False},
        "agents": DEFAULT_AGENTS if agents is None else agents,
        "providers": {
            "openai": {
                "api_base": fake.openai_url,
                "max_retries": max_retries,
                "timeout": provider_timeout,
            },
            "anthropic": {
                "api_base": fake.anthropic_url,
                "max_retries": max_retries,
                "timeout": provider_timeout,
            },
        },
    }
    if keys:
        data["openai_api_key"] = OPENAI_KEY
        data["anthropic_api_key"] = ANTHROPIC_KEY
    data.update(sections)
    return parse_config(data)
