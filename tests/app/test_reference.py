"""The configuration reference (README) names every variable and server setting the server reads."""

from __future__ import annotations

from pathlib import Path

from app.config import ENV_VARS, SECRET_ENV, ServerSettings
from app.secret_files import FILE_SUFFIX

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_environment_variable_is_documented() -> None:
    file_vars = {name + FILE_SUFFIX for name in SECRET_ENV}
    assert "`<SECRET>_FILE`" in README
    missing = sorted(v for v in ENV_VARS - file_vars if f"`{v}`" not in README)
    assert missing == []


def test_every_server_setting_is_documented() -> None:
    missing = sorted(
        name for name in ServerSettings.model_fields if f"`server.{name}`" not in README
    )
    assert missing == []
