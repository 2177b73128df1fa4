"""Server configuration: a YAML file (``AGENTSMCP_CONFIG``), overridden by environment variables.

Secrets never come from the file, only from the environment. Every problem is reported as one
``key.path: message`` line through :class:`ConfigError`, so ``python -m app`` can print them and
exit 2.

The package by concern: _schema.py (the pydantic models), _model.py (``AppConfig``: them
checked against each other), _environment.py (the variables the
server reads and the secrets among them), _checks.py (the rules between sections), _sources.py
(the pydantic-settings sources), _load.py (``load_config`` and ``parse_config``), _errors.py.
"""

from app.config._checks import (
    ANTHROPIC_API_VERSION,
    MIN_PRODUCTION_SECRET_BYTES,
    TOOLS_AGENT_TYPE,
    mcp_tool_name,
)
from app.config._environment import (
    CAPTURE_CONTENT_ENV,
    COMMIT_ENV,
    ENV_OVERRIDES,
    ENV_VARS,
    OTEL_ENV_VARS,
    OTEL_SDK_DISABLED_ENV,
    OTEL_TRACES_EXPORTER_ENV,
    PROVIDER_KEY_ENV,
    SECRET_ENV,
    TRACES_ENDPOINT_ENVS,
    TRACES_PROTOCOL_ENVS,
    deployed_version,
    tool_server_token_env,
)
from app.config._errors import ConfigError
from app.config._load import load_config, parse_config
from app.config._model import AppConfig
from app.config._schema import (
    SHUTDOWN_TAIL_SECONDS,
    STREAM_ABORT_GRACE_SECONDS,
    TRACE_FLUSH_SECONDS,
    A2aSettings,
    AccessRule,
    AgentMcpSettings,
    AgentSettings,
    AuthSettings,
    LimitOverride,
    McpSettings,
    OAuthDiscoverySettings,
    OidcSettings,
    ProviderName,
    ProviderSettings,
    RateLimitSettings,
    ServerSettings,
    ToolServerSettings,
)

__all__ = [
    "ANTHROPIC_API_VERSION",
    "CAPTURE_CONTENT_ENV",
    "COMMIT_ENV",
    "ENV_OVERRIDES",
    "ENV_VARS",
    "MIN_PRODUCTION_SECRET_BYTES",
    "OTEL_ENV_VARS",
    "OTEL_SDK_DISABLED_ENV",
    "OTEL_TRACES_EXPORTER_ENV",
    "PROVIDER_KEY_ENV",
    "SECRET_ENV",
    "SHUTDOWN_TAIL_SECONDS",
    "STREAM_ABORT_GRACE_SECONDS",
    "TOOLS_AGENT_TYPE",
    "TRACES_ENDPOINT_ENVS",
    "TRACES_PROTOCOL_ENVS",
    "TRACE_FLUSH_SECONDS",
    "A2aSettings",
    "AccessRule",
    "AgentMcpSettings",
    "AgentSettings",
    "AppConfig",
    "AuthSettings",
    "ConfigError",
    "LimitOverride",
    "McpSettings",
    "OAuthDiscoverySettings",
    "OidcSettings",
    "ProviderName",
    "ProviderSettings",
    "RateLimitSettings",
    "ServerSettings",
    "ToolServerSettings",
    "deployed_version",
    "load_config",
    "mcp_tool_name",
    "parse_config",
    "tool_server_token_env",
]
