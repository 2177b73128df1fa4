"""Only the SDKs of providers in use are imported (``import anthropic`` alone is ~84 MB of RSS)."""

from __future__ import annotations

from tests.probe import run_python

PROBE = """
import sys
from app.config import parse_config
from app.providers import build_providers, deprecated_models

config = parse_config({
    "agents": {"a": {"provider": "openai", "model": "gpt-4o"}},
    "jwt_secret_key": "x" * 40,
    "openai_api_key": "sk-test",
})
deprecated_models(config)

async def main():
    providers = build_providers(config)
    for provider in providers.values():
        await provider.aclose()

import asyncio
asyncio.run(main())
print("openai" in sys.modules, "anthropic" in sys.modules)
"""


def test_an_openai_only_config_never_imports_anthropic() -> None:
    assert run_python(PROBE).split() == ["True", "False"]
