"""The configuration reference (docs/configuration.md) names every variable and server setting the
server reads."""

from __future__ import annotations

from pathlib import Path

from app.config import ENV_VARS, SECRET_ENV, ServerSettings
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


def test_every_mcp_setting_is_documented() -> None:
    from app.config import AgentMcpSettings, McpSettings

    missing = sorted(name for name in McpSettings.model_fields if f"`mcp.{name}`" not in REFERENCE)
    missing += sorted(
        name
        for name in AgentMcpSettings.model_fields
        if f"`agents.<name>.mcp.{name}`" not in REFERENCE
    )
    assert missing == []
