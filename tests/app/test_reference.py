"""The configuration reference (docs/configuration.md) names every variable and server setting the
server reads."""

from __future__ import annotations

from pathlib import Path

from app.config import (
    ENV_VARS,
    SECRET_ENV,
    AuthSettings,
    OAuthDiscoverySettings,
    OidcSettings,
    ServerSettings,
)
from app.secret_files import FILE_SUFFIX

REFERENCE = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(
    encoding="utf-8"
)


def test_every_environment_variable_is_documented() -> None:
    file_vars = {name + FILE_SUFFIX for name in SECRET_ENV}
    assert "`<SECRET>_FILE`" in REFERENCE
    missing = sorted(v for v in ENV_VARS - file_vars if f"`{v}`" not in REFERENCE)
    assert missing == []


def test_every_server_setting_is_documented() -> None:
    missing = sorted(
        name for name in ServerSettings.model_fields if f"`server.{name}`" not in REFERENCE
    )
    assert missing == []


SECTIONS = ("oidc", "oauth_discovery")


def test_every_auth_setting_is_documented() -> None:
    # The two sections are checked key by key below.
    keys = [f"auth.{name}" for name in AuthSettings.model_fields if name not in SECTIONS]
    keys += [f"auth.oidc.{name}" for name in OidcSettings.model_fields]
    keys += [f"auth.oauth_discovery.{name}" for name in OAuthDiscoverySettings.model_fields]
    assert sorted(key for key in keys if f"`{key}`" not in REFERENCE) == []


def test_every_mcp_setting_is_documented() -> None:
    from app.config import AgentMcpSettings, McpSettings

    missing = sorted(name for name in McpSettings.model_fields if f"`mcp.{name}`" not in REFERENCE)
    missing += sorted(
        name
        for name in AgentMcpSettings.model_fields
        if f"`agents.<name>.mcp.{name}`" not in REFERENCE
    )
    assert missing == []
