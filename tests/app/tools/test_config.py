"""tool_servers and the tools-agent settings: defaults, one-line errors, and the tool servers'
bearer tokens, read like every other secret (variable, _FILE, secrets directory), never YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import ConfigError, load_config, parse_config, tool_server_token_env

SECRET = "x" * 40


def config(**data: Any) -> dict[str, Any]:
    return {"jwt_secret_key": SECRET, **data}


def agent(**settings: Any) -> dict[str, Any]:
    return {"type": "tools", "provider": "openai", "model": "gpt-4o", **settings}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    return raised.value.problems


def test_defaults() -> None:
    parsed = parse_config(
        config(
            tool_servers={"calc": {"url": "http://calc.tools.svc:8080/mcp"}},
            agents={"a": agent(tool_servers=["calc"])},
        )
    )
    server = parsed.tool_servers["calc"]
    assert (server.auth, server.timeout_seconds, server.allowed_tools) == ("none", 30.0, None)
    assert (server.name_prefix, server.list_ttl_seconds) == ("", 300.0)
    settings = parsed.agents["a"]
    assert (settings.max_steps, settings.tool_timeout_seconds) == (8, 30.0)
    assert settings.max_tool_result_chars == 20_000


def test_token_variable_name() -> None:
    assert tool_server_token_env("github") == "TOOL_SERVER_GITHUB_TOKEN"
    assert tool_server_token_env("web-search") == "TOOL_SERVER_WEB_SEARCH_TOKEN"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            config(agents={"a": agent(tool_servers=["nope"])}),
            "agents.a.tool_servers: unknown tool server 'nope'",
        ),
        (config(agents={"a": agent()}), "agents.a.tool_servers: a tools agent needs at least one"),
        (
            config(
                tool_servers={"t": {"url": "https://t.example.com/mcp"}},
                agents={"a": {**agent(tool_servers=["t"]), "type": "chat"}},
            ),
            "agents.a.tool_servers: only agents of type 'tools' call tools; set type: tools"
            " or remove tool_servers",
        ),
        (
            config(tool_servers={"t": {"url": "https://t.example.com/mcp", "auth": "bearer"}}),
            "TOOL_SERVER_T_TOKEN: required while tool_servers.t.auth is bearer",
        ),
        (
            config(tool_servers={"a-b": {"url": "https://a/"}, "a_b": {"url": "https://b/"}}),
            "tool_servers.a_b: its secret name TOOL_SERVER_A_B_TOKEN is also tool server"
            " 'a-b''s; rename one",
        ),
        (
            config(tool_servers={"t": {"url": "https://user:pw@t.example.com/mcp"}}),
            "tool_servers.t.url: 'https://user:pw@t.example.com/mcp' must not carry credentials"
            " or a fragment (tokens come from the tool server's secret, see auth)",
        ),
        (
            config(tool_servers={"t": {"url": "ftp://t.example.com"}}),
            "tool_servers.t.url: 'ftp://t.example.com' is not an http(s) URL like"
            " https://tools.example.com/mcp",
        ),
        (
            config(
                tool_servers={"t": {"url": "https://t/"}},
                agents={
                    "a": agent(tool_servers=["t"], fallback="b"),
                    "b": {"provider": "openai", "model": "m"},
                },
            ),
            "agents.a.fallback: tools agents do not fall back (a run's tool calls cannot be"
            " handed to another agent); remove it",
        ),
        (
            config(agents={"a": agent(max_steps=0)}),
            "agents.a.max_steps: Input should be greater than or equal to 1",
        ),
    ],
)
def test_errors_are_one_line_naming_the_key(data: dict[str, Any], expected: str) -> None:
    assert expected in problems(data)


def test_tokens_come_from_the_environment_a_file_or_the_secrets_dir(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "tool_servers": {
                    name: {"url": f"https://{name}.example.com/mcp", "auth": "bearer"}
                    for name in ("env", "file", "dir")
                }
            }
        )
    )
    (tmp_path / "token").write_text("from-a-file\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "TOOL_SERVER_DIR_TOKEN").write_text("from-the-dir")
    loaded = load_config(
        {
            "AGENTSMCP_CONFIG": str(path),
            "JWT_SECRET_KEY": SECRET,
            "TOOL_SERVER_ENV_TOKEN": "from-the-env",
            "TOOL_SERVER_FILE_TOKEN_FILE": str(tmp_path / "token"),
            "AGENTSMCP_SECRETS_DIR": str(secrets),
        }
    )
    assert loaded.tool_server_token("env") == "from-the-env"
    assert loaded.tool_server_token("file") == "from-a-file"
    assert loaded.tool_server_token("dir") == "from-the-dir"
    # Rotation re-reads the files.
    assert loaded.secret_files["TOOL_SERVER_FILE_TOKEN"] == str(tmp_path / "token")
    assert "from-" not in loaded.model_dump_json()


def test_a_token_in_the_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"tool_server_tokens": {"TOOL_SERVER_X_TOKEN": "leak"}}))
    with pytest.raises(ConfigError) as raised:
        load_config({"AGENTSMCP_CONFIG": str(path), "JWT_SECRET_KEY": SECRET})
    assert raised.value.problems[0].startswith("tool_server_tokens: secrets come only from")


def test_every_tool_setting_is_documented() -> None:
    from app.config import AgentSettings, ToolServerSettings

    reference = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text()
    keys = [f"tool_servers.<name>.{name}" for name in ToolServerSettings.model_fields]
    keys += [
        f"agents.<name>.{name}"
        for name in ("tool_servers", "max_steps", "tool_timeout_seconds", "max_tool_result_chars")
    ]
    assert set(AgentSettings.model_fields) >= {k.split(".")[-1] for k in keys[-4:]}
    assert [key for key in keys if f"`{key}`" not in reference] == []
    assert "`TOOL_SERVER_<NAME>_TOKEN`" in reference
