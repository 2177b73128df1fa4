from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ENV_VARS, ConfigError, load_config

SECRET = "x" * 40
ROOT = Path(__file__).resolve().parents[2]


def problems_of(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(environ)
    return caught.value.problems


def test_defaults_without_a_file() -> None:
    config = load_config({"JWT_SECRET_KEY": SECRET})
    assert config.environment == "development"
    assert config.server.port == 8000
    assert config.auth.issuer == "agentsmcp"
    assert config.auth.audience == "agentsmcp-api"
    assert config.auth.public_paths == [
        "/health",
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
    ]
    assert config.logging.format == "json"


@pytest.mark.parametrize(
    ("provider", "temperature", "problem"),
    [
        ("anthropic", 0.2, "agents.a.temperature: the Anthropic Messages API version"),
        ("openai", 2.5, "agents.a.temperature: Input should be less than or equal to 2"),
    ],
)
def test_temperature_is_checked_per_provider(
    provider: str, temperature: float, problem: str
) -> None:
    from app.config import parse_config

    agent = {"provider": provider, "model": "m", "temperature": temperature}
    with pytest.raises(ConfigError) as caught:
        parse_config({"jwt_secret_key": SECRET, "agents": {"a": agent}})
    (line,) = caught.value.problems
    assert line.startswith(problem)


def test_shipped_config_is_valid() -> None:
    config = load_config(
        {"AGENTSMCP_CONFIG": str(ROOT / "config/agentsmcp.yaml"), "JWT_SECRET_KEY": SECRET}
    )
    assert config.agents["coding"].fallback == "coding-claude"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 9000\nlogging:\n  format: json\n", encoding="utf-8")
    config = load_config(
        {
            "AGENTSMCP_CONFIG": str(path),
            "AGENTSMCP_PORT": "9100",
            "AGENTSMCP_LOG_FORMAT": "text",
            "AGENTSMCP_LOG_LEVEL": "DEBUG",
            "AGENTSMCP_HOST": "127.0.0.1",
            "AGENTSMCP_PROMETHEUS_ENABLED": "false",
            "AGENTSMCP_RATE_LIMIT_ENABLED": "false",
            "AGENTSMCP_ENVIRONMENT": "staging",
            "JWT_SECRET_KEY": SECRET,
        }
    )
    assert config.server.port == 9100
    assert config.server.host == "127.0.0.1"
    assert config.logging.format == "text"
    assert config.logging.level == "DEBUG"
    assert config.metrics.enabled is False
    assert config.rate_limit.enabled is False
    assert config.environment == "staging"


def test_every_problem_is_reported_with_its_key_path(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "server:\n  port: 0\n  extra: 1\nauth:\n  issuer: ''\nmystery: true\n"
        "server_typo: {}\nrate_limit:\n  burst: zero\n",
        encoding="utf-8",
    )
    problems = problems_of({"AGENTSMCP_CONFIG": str(path), "JWT_SECRET_KEY": SECRET})
    keys = sorted(problem.split(":")[0] for problem in problems)
    assert keys == [
        "auth.issuer",
        "mystery",
        "rate_limit.burst",
        "server.extra",
        "server.port",
        "server_typo",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: [1, 2\n", "is not valid YAML at line"),
        ("- a\n- b\n", "must hold a mapping"),
        ("jwt_secret_key: abc\n", "secrets come only from the environment"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    problems = problems_of({"AGENTSMCP_CONFIG": str(path), "JWT_SECRET_KEY": SECRET})
    assert len(problems) == 1
    assert expected in problems[0]


def test_agent_fallback_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "agents:\n  a:\n    provider: openai\n    model: m\n    fallback: ghost\n", encoding="utf-8"
    )
    problems = problems_of({"AGENTSMCP_CONFIG": str(path), "JWT_SECRET_KEY": SECRET})
    assert problems == ["agents.a.fallback: unknown agent 'ghost'"]


def test_auth_enabled_needs_a_secret() -> None:
    assert problems_of({}) == ["JWT_SECRET_KEY: required while auth.enabled is true"]


def test_env_vars_lists_exactly_what_the_server_reads() -> None:
    assert {
        "AGENTSMCP_CONFIG",
        "AGENTSMCP_COMMIT",
        "AGENTSMCP_ENVIRONMENT",
        "AGENTSMCP_HOST",
        "AGENTSMCP_PORT",
        "AGENTSMCP_LOG_LEVEL",
        "AGENTSMCP_LOG_FORMAT",
        "AGENTSMCP_PROMETHEUS_ENABLED",
        "AGENTSMCP_RATE_LIMIT_ENABLED",
        "AGENTSMCP_VERSION",
        "AGENTSMCP_SECRETS_DIR",
        "JWT_SECRET_KEY",
        "JWT_SECRET_KEY_FILE",
        "JWT_PREVIOUS_SECRET_KEY",
        "JWT_PREVIOUS_SECRET_KEY_FILE",
        "OPENAI_API_KEY",
        "OPENAI_API_KEY_FILE",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_API_KEY_FILE",
        "REDIS_URL",
        "REDIS_URL_FILE",
        "REDIS_PASSWORD",
        "REDIS_PASSWORD_FILE",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
    } == ENV_VARS


def test_no_module_reads_an_undeclared_environment_variable() -> None:
    import re

    names: set[str] = set()
    for source in (ROOT / "app").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        names.update(re.findall(r"environ(?:\.get)?\(\s*\"([A-Z0-9_]+)\"", text))
        names.update(re.findall(r"environ\[\s*\"([A-Z0-9_]+)\"\s*\]", text))
        names.update(re.findall(r"getenv\(\s*\"([A-Z0-9_]+)\"", text))
    assert names <= ENV_VARS
