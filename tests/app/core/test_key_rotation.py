"""A rotated provider API key file reaches the SDK client of a running server (no restart)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai

from app.config import load_config
from app.server import create_app
from tests.app.conftest import make_token
from tests.fakes import FakeServer
from tests.fakes.appconfig import JWT_SECRET
from tests.fakes.kubelet import publish


async def test_rotated_openai_key_is_used_without_a_restart(
    aiohttp_client: Any, fake: FakeServer, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    publish(secrets, {"JWT_SECRET_KEY": JWT_SECRET, "OPENAI_API_KEY": "sk-old"})
    config_file = tmp_path / "agentsmcp.yaml"
    config_file.write_text(
        "server:\n  secrets_refresh_seconds: 1\n"
        "rate_limit:\n  enabled: false\n"
        f"providers:\n  openai:\n    api_base: {fake.openai_url}\n    max_retries: 0\n"
        "agents:\n  coding:\n    provider: openai\n    model: gpt-4o\n"
    )
    config = load_config(
        {"AGENTSMCP_CONFIG": str(config_file), "AGENTSMCP_SECRETS_DIR": str(secrets)}
    )
    client = await aiohttp_client(create_app(config))
    sdk = openai.AsyncOpenAI(
        api_key=make_token(secret=JWT_SECRET),
        base_url=str(client.make_url("/v1")),
        max_retries=0,
    )
    try:

        async def ask() -> str:
            await sdk.chat.completions.create(
                model="coding", messages=[{"role": "user", "content": "hi"}]
            )
            return fake.openai.headers[-1]["authorization"]

        assert await ask() == "Bearer sk-old"
        publish(secrets, {"JWT_SECRET_KEY": JWT_SECRET, "OPENAI_API_KEY": "sk-new"})
        for _ in range(40):
            if await ask() == "Bearer sk-new":
                break
            await asyncio.sleep(0.1)
        assert fake.openai.headers[-1]["authorization"] == "Bearer sk-new"
        # A key file that disappears keeps the client on its last key.
        publish(secrets, {"JWT_SECRET_KEY": JWT_SECRET})
        await asyncio.sleep(1.5)
        assert await ask() == "Bearer sk-new"
    finally:
        await sdk.close()
