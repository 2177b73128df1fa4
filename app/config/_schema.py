"""Server configuration: a YAML file (``AGENTSMCP_CONFIG``), overridden by environment variables.

Secrets never come from the file, only from the environment. Every problem is reported as one
``key.path: message`` line through :class:`ConfigError`, so ``python -m app`` can print them and
exit 2.

``load_config`` is pydantic-settings: its YAML source, deep-merged under two sources of ours that
pydantic-settings cannot express (the ENV_OVERRIDES names and the NAME / NAME_FILE / secrets-dir
secrets that app/secret_files.py re-reads at runtime). ``parse_config`` validates a mapping alone.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from app.secret_files import (
    FILE_SUFFIX,
    SECRETS_DIR_ENV,
    SecretFileError,
    read_secret_file,
    secret_paths,
)

CONFIG_PATH_ENV = "AGENTSMCP_CONFIG"
# Optional build metadata shown in the agentsmcp_build_info metric; "unknown" when unset.
COMMIT_ENV = "AGENTSMCP_COMMIT"

# Environment variable -> dotted key path in the config model. Deployments may set exactly these.
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "AGENTSMCP_ENVIRONMENT": ("environment",),
    "AGENTSMCP_HOST": ("server", "host"),
    "AGENTSMCP_PORT": ("server", "port"),
    "AGENTSMCP_LOG_LEVEL": ("logging", "level"),
    "AGENTSMCP_LOG_FORMAT": ("logging", "format"),
    "AGENTSMCP_PROMETHEUS_ENABLED": ("metrics", "enabled"),
    "AGENTSMCP_RATE_LIMIT_ENABLED": ("rate_limit", "enabled"),
}

# The deployed version (the image's VERSION build arg), shown by agentsmcp_build_info and /health.
VERSION_ENV = "AGENTSMCP_VERSION"

# Secrets -> AppConfig field. Never read from the YAML file: from the environment variable, the
# file named by <NAME>_FILE, or $AGENTSMCP_SECRETS_DIR/<NAME> (see app/secret_files.py).
SECRET_ENV: dict[str, str] = {
    "JWT_SECRET_KEY": "jwt_secret_key",
    "JWT_PREVIOUS_SECRET_KEY": "jwt_previous_secret_key",
    "OPENAI_API_KEY": "openai_api_key",
    "ANTHROPIC_API_KEY": "anthropic_api_key",
    "REDIS_URL": "redis_url",
    "REDIS_PASSWORD": "redis_password",
}

# Every environment variable the server reads; the Pulumi Deployment is checked against it.
ENV_VARS: frozenset[str] = frozenset(
    {
        CONFIG_PATH_ENV,
        COMMIT_ENV,
        VERSION_ENV,
        SECRETS_DIR_ENV,
        *ENV_OVERRIDES,
        *SECRET_ENV,
        *(name + FILE_SUFFIX for name in SECRET_ENV),
    }
)

MIN_PRODUCTION_SECRET_BYTES = 32

Environment = Literal["development", "staging", "production"]
ProviderName = Literal["openai", "anthropic"]
AgentName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
PROVIDER_KEY_ENV: dict[str, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
# What the pinned anthropic SDK sends as anthropic-version (anthropic._constants); a test keeps
# them equal. That version refuses temperature, top_p and top_k.
ANTHROPIC_API_VERSION = "2026-10-21"


def deployed_version(environ: Mapping[str, str] | None = None) -> str:
    """``AGENTSMCP_VERSION`` (set by the image from its VERSION build arg), else the package's."""
    from app import __version__

    env = os.environ if environ is None else environ
    return env.get(VERSION_ENV) or __version__


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(StrictModel):
    host: str = Field("0.0.0.0", min_length=1)
    port: int = Field(8000, ge=1, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    drain_seconds: float = Field(5.0, ge=0, le=300)
    shutdown_timeout_seconds: float = Field(25.0, ge=0, le=3600)
    # Agent requests in flight per process; more get a fast 503 (app/admission.py).
    max_inflight_runs: int = Field(256, ge=1, le=100_000)
    secrets_refresh_seconds: float = Field(10.0, ge=1, le=3600)

    @field_validator("cors_origins")
    @classmethod
    def _no_credentialed_wildcard(cls, origins: list[str]) -> list[str]:
        # CORS is configured with credentials allowed, so "*" would let any site act as the user.
        if "*" in origins:
            raise ValueError("'*' is not allowed: list the allowed origins explicitly")
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.rstrip("/") != origin:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return origins


DEFAULT_PUBLIC_PATHS = ("/health", "/health/live", "/health/ready", "/metrics", "/openapi.json")


# Asymmetric JWS algorithms only: an OpenID provider's tokens are never verified with HS* or none.
OidcAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]
# RFC 6749 scope-token: printable ASCII without space, double quote or backslash.
ScopeToken = Annotated[str, Field(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]{1,128}$")]
DEFAULT_OIDC_ALGORITHMS: tuple[OidcAlgorithm, ...] = ("RS256", "ES256")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _absolute_url(value: str) -> str:
    """An https URL (http only for a loopback host, for local development and tests), with a
    host and no query, fragment or credentials."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{value!r} is not an absolute URL like https://idp.example.com")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError(f"{value!r} must use https (http only for localhost)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} must not have a query, fragment or credentials")
    # It is quoted in WWW-Authenticate headers.
    if not value.isascii() or not value.isprintable() or any(c in value for c in ' "\\'):
        raise ValueError(f"{value!r} must be printable ASCII without spaces, quotes or backslashes")
    return value


AbsoluteUrl = Annotated[str, AfterValidator(_absolute_url)]


class OidcSettings(StrictModel):
    """Access tokens from an OpenID provider, verified with the keys it publishes (app/oidc)."""

    # Compared exactly with the tokens' iss; discovery: <issuer>/.well-known/openid-configuration.
    issuer: AbsoluteUrl
    # This server's canonical URL (the MCP endpoint's): tokens whose aud lacks it are refused.
    audience: AbsoluteUrl
    algorithms: list[OidcAlgorithm] = Field(
        default_factory=lambda: list(DEFAULT_OIDC_ALGORITHMS), min_length=1
    )
    # Every one of them must be in the token's scope (or scp) claim.
    required_scopes: list[ScopeToken] = Field(default_factory=list)
    # Unset: the jwks_uri of the discovery document.
    jwks_uri: AbsoluteUrl | None = None
    jwks_cache_seconds: float = Field(300.0, ge=1, le=86_400)
    # How long the last fetched keys stay in use while the provider cannot be reached.
    jwks_max_stale_seconds: float = Field(3600.0, ge=0, le=7 * 86_400)
    # Least time between two fetches caused by a token signed with an unknown key (kid).
    jwks_refetch_interval_seconds: float = Field(30.0, ge=0, le=3600)
    http_timeout_seconds: float = Field(5.0, gt=0, le=60)

    @field_validator("audience")
    @classmethod
    def _canonical(cls, audience: str) -> str:
        if audience.endswith("/") and urlsplit(audience).path != "/":
            raise ValueError(f"{audience!r}: the canonical URL has no trailing slash")
        return audience


class OAuthDiscoverySettings(StrictModel):
    """RFC 9728 protected resource metadata and the resource_metadata challenge (off by default:
    some MCP hosts stop sending configured headers once a server advertises OAuth)."""

    enabled: bool = False


class AuthSettings(StrictModel):
    enabled: bool = True
    issuer: str = Field("agentsmcp", min_length=1)
    audience: str = Field("agentsmcp-api", min_length=1)
    leeway_seconds: float = Field(10.0, ge=0, le=300)
    public_paths: list[Annotated[str, Field(pattern=r"^/")]] = Field(
        default_factory=lambda: list(DEFAULT_PUBLIC_PATHS)
    )
    oidc: OidcSettings | None = None
    oauth_discovery: OAuthDiscoverySettings = Field(default_factory=OAuthDiscoverySettings)


class LimitOverride(StrictModel):
    """Per-subject limits; an unset field keeps the default. Also the shape of the JWT claim."""

    requests_per_minute: int | None = Field(None, ge=1, le=10_000_000)
    burst: int | None = Field(None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(None, ge=1, le=10**12)
    tokens_per_day: int | None = Field(None, ge=1, le=10**12)


class TokenBudget(StrictModel):
    tokens_per_minute: int | None = Field(None, ge=1, le=10**12)
    tokens_per_day: int | None = Field(None, ge=1, le=10**12)


class RedisSettings(StrictModel):
    timeout_seconds: float = Field(0.25, gt=0, le=5)
    retry_interval_seconds: float = Field(1.0, gt=0, le=60)
    key_prefix: str = Field("agentsmcp:", max_length=64)


class RateLimitSettings(StrictModel):
    enabled: bool = True
    backend: Literal["memory", "redis"] = "memory"
    on_store_failure: Literal["open", "closed"] = "open"
    requests_per_minute: int = Field(600, ge=1, le=10_000_000)
    burst: int = Field(100, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(None, ge=1, le=10**12)
    tokens_per_day: int | None = Field(None, ge=1, le=10**12)
    agents: dict[AgentName, TokenBudget] = Field(default_factory=dict)
    subjects: dict[Annotated[str, Field(min_length=1, max_length=256)], LimitOverride] = Field(
        default_factory=dict
    )
    override_claim: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,99}$")
    redis: RedisSettings = Field(default_factory=RedisSettings)


class LoggingSettings(StrictModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"


class MetricsSettings(StrictModel):
    enabled: bool = True
    # A separate listener for /metrics (same host), kept off the public port; unset: /metrics is
    # served on server.port.
    port: int | None = Field(None, ge=1, le=65535)


class ProviderSettings(StrictModel):
    api_base: str | None = Field(None, pattern=r"^https?://")
    max_retries: int = Field(2, ge=0, le=10)
    timeout: float = Field(60.0, gt=0, le=3600)


# MCP tool names: what every host accepts (the spec allows 1-64 of [A-Za-z0-9._-]; some hosts
# refuse the dot).
McpToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class AgentMcpSettings(StrictModel):
    """How an agent appears on the MCP endpoint (docs/mcp.md)."""

    expose: bool = True
    # Unset: the agent's name with every character outside [A-Za-z0-9_-] replaced by "_".
    tool_name: McpToolName | None = None


class McpSettings(StrictModel):
    """The MCP endpoint, ``POST /mcp`` (docs/mcp.md)."""

    enabled: bool = True
    # Progress notifications of a call with a progressToken; hosts reset idle timers on each one
    # and some give up after 10 s of silence.
    progress_interval_seconds: float = Field(2.0, ge=0.05, le=9)
    # SSE comment keep-alives of a call without a progressToken, for proxies' idle timeouts.
    keepalive_seconds: float = Field(15.0, ge=0.05, le=300)
    # Hosts prefix tool names with mcp__<server>__ and cap the result at 64 characters: 48 leaves
    # room for a server name of up to 9 characters ("agentsmcp").
    tool_name_max_length: int = Field(48, ge=1, le=64)
    # A browser's Origin header must be one of server.cors_origins (DNS-rebinding protection).
    check_origin: bool = True
    instructions: str | None = Field(None, max_length=4096)


def mcp_tool_name(agent_name: str, agent: AgentSettings) -> str:
    """The MCP tool name of an agent (one definition for the config checks and the endpoint)."""
    return agent.mcp.tool_name or re.sub(r"[^A-Za-z0-9_-]", "_", agent_name)


ToolServerName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
# An MCP tool's name as its server lists it (the MCP spec's characters).
McpServerToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
TOOL_SERVER_TOKEN_ENV = re.compile(r"^TOOL_SERVER_[A-Z0-9_]+_TOKEN$")


def tool_server_token_env(name: str) -> str:
    """The secret holding a tool server's bearer token (one definition)."""
    return f"TOOL_SERVER_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_TOKEN"


def _tool_server_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL like https://tools.example.com/mcp")
    if parts.username or parts.password or parts.fragment:
        raise ValueError(
            f"{value!r} must not carry credentials or a fragment (tokens come from the"
            " tool server's secret, see auth)"
        )
    return value


class ToolServerSettings(StrictModel):
    """An MCP tool server (Streamable HTTP) whose tools agents may call (docs/tools.md)."""

    url: Annotated[str, AfterValidator(_tool_server_url)]
    # bearer: send the secret TOOL_SERVER_<NAME>_TOKEN as "Authorization: Bearer ...".
    auth: Literal["none", "bearer"] = "none"
    # Each request to the server (handshake, tools/list, tools/call) is bounded by this.
    timeout_seconds: float = Field(30.0, gt=0, le=3600)
    # Unset: every tool the server lists; else only these (names as the server lists them).
    allowed_tools: list[McpServerToolName] | None = None
    # Prepended to the server's tool names in what the model sees (names must stay unique).
    name_prefix: str = Field("", pattern=r"^[A-Za-z0-9_-]{0,32}$")
    # How long a tools/list answer is used before it is asked for again.
    list_ttl_seconds: float = Field(300.0, ge=0, le=86_400)


TOOLS_AGENT_TYPE = "tools"


class AgentSettings(StrictModel):
    # "tools": the agent loop with tools from tool_servers; anything else: one model call.
    type: str = Field("chat", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    # What the agent is for: the MCP tool description hosts show to their models.
    description: str = Field("", max_length=4096)
    provider: ProviderName
    model: str = Field(min_length=1, max_length=200)
    system_prompt: str = ""
    timeout: float = Field(60.0, gt=0, le=3600)
    max_tokens: int = Field(1024, ge=1, le=1_000_000)
    # OpenAI's range; Anthropic agents take none (see AppConfig._cross_checks).
    temperature: float | None = Field(None, ge=0, le=2)
    fallback: AgentName | None = None
    mcp: AgentMcpSettings = Field(default_factory=AgentMcpSettings)
    # Tools agents (type: tools) only.
    tool_servers: list[ToolServerName] = Field(default_factory=list, max_length=32)
    # Model calls per run; a run that still asks for tools after the last one is incomplete.
    max_steps: int = Field(8, ge=1, le=100)
    tool_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    # A tool result longer than this is cut before the model sees it.
    max_tool_result_chars: int = Field(20_000, ge=100, le=1_000_000)


def _default_providers() -> dict[ProviderName, ProviderSettings]:
    return {"openai": ProviderSettings(), "anthropic": ProviderSettings()}


class AppConfig(StrictModel):
    environment: Environment = "development"
    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    agents: dict[AgentName, AgentSettings] = Field(default_factory=dict)
    tool_servers: dict[ToolServerName, ToolServerSettings] = Field(default_factory=dict)
    providers: dict[ProviderName, ProviderSettings] = Field(default_factory=_default_providers)

    # Secrets: environment only (see SECRET_ENV); excluded from dumps.
    jwt_secret_key: SecretStr | None = Field(None, exclude=True)
    # Accepted for verification only, during a key rotation
    # (see docs/operations.md, "Rotating secrets").
    jwt_previous_secret_key: SecretStr | None = Field(None, exclude=True)
    openai_api_key: SecretStr | None = Field(None, exclude=True)
    anthropic_api_key: SecretStr | None = Field(None, exclude=True)
    redis_url: SecretStr | None = Field(None, exclude=True)
    redis_password: SecretStr | None = Field(None, exclude=True)
    # TOOL_SERVER_<NAME>_TOKEN secrets, by variable name.
    tool_server_tokens: dict[str, SecretStr] = Field(default_factory=dict, exclude=True)
    # Secret name -> the file it is re-read from while the server runs (empty: environment only).
    secret_files: dict[str, str] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> AppConfig:
        problems: list[str] = []
        for name, agent in self.agents.items():
            if agent.provider == "anthropic" and agent.temperature is not None:
                problems.append(
                    f"agents.{name}.temperature: the Anthropic Messages API version the server"
                    f" uses ({ANTHROPIC_API_VERSION}) does not accept temperature; remove it"
                )
            if agent.fallback is None:
                continue
            fallback = self.agents.get(agent.fallback)
            if fallback is not None and fallback.type == TOOLS_AGENT_TYPE:
                problems.append(
                    f"agents.{name}.fallback: {agent.fallback!r} is a tools agent, which cannot"
                    " stand in for a single call"
                )
            if agent.fallback == name:
                problems.append(f"agents.{name}.fallback: an agent cannot fall back to itself")
            elif agent.fallback not in self.agents:
                problems.append(f"agents.{name}.fallback: unknown agent {agent.fallback!r}")
            elif _fallback_cycle(self.agents, name):
                problems.append(f"agents.{name}.fallback: fallback chain loops back to {name!r}")
        problems.extend(self._mcp_tool_problems())
        problems.extend(self._tool_server_problems())
        if self.metrics.port is not None and self.metrics.port == self.server.port:
            problems.append(
                f"metrics.port: must differ from server.port ({self.server.port}), or be unset"
            )
        for name in self.rate_limit.agents:
            if name not in self.agents:
                problems.append(f"rate_limit.agents.{name}: unknown agent {name!r}")
        if self.rate_limit.enabled and self.rate_limit.backend == "redis":
            url = self.redis_url.get_secret_value() if self.redis_url else ""
            if not url:
                problems.append("REDIS_URL: required while rate_limit.backend is redis")
            elif not url.startswith(("redis://", "rediss://", "unix://")):
                problems.append("REDIS_URL: must start with redis://, rediss:// or unix://")
        if self.auth.oauth_discovery.enabled and self.auth.oidc is None:
            problems.append(
                "auth.oauth_discovery.enabled: needs auth.oidc (the provider to advertise)"
            )
        if self.environment == "production" and not self.auth.enabled:
            problems.append("auth.enabled: authentication cannot be disabled in production")
        if self.auth.enabled:
            secret = self.jwt_secret_key.get_secret_value() if self.jwt_secret_key else ""
            if not secret:
                problems.append("JWT_SECRET_KEY: required while auth.enabled is true")
            elif (
                self.environment == "production"
                and len(secret.encode()) < MIN_PRODUCTION_SECRET_BYTES
            ):
                problems.append(
                    f"JWT_SECRET_KEY: must be at least {MIN_PRODUCTION_SECRET_BYTES} bytes"
                    " in production"
                )
        if problems:
            raise ConfigError(problems)
        return self

    def _mcp_tool_problems(self) -> list[str]:
        if not self.mcp.enabled:
            return []
        problems = []
        owners: dict[str, str] = {}
        limit = self.mcp.tool_name_max_length
        for name, agent in self.agents.items():
            if not agent.mcp.expose:
                continue
            tool = mcp_tool_name(name, agent)
            if len(tool) > limit:
                problems.append(
                    f"agents.{name}.mcp.tool_name: the tool name {tool!r} is longer than"
                    f" mcp.tool_name_max_length ({limit}); set a shorter one"
                )
            elif tool in owners:
                problems.append(
                    f"agents.{name}.mcp.tool_name: the tool name {tool!r} is already agent"
                    f" {owners[tool]!r}'s; set a different one"
                )
            else:
                owners[tool] = name
        return problems

    def _tool_server_problems(self) -> list[str]:
        problems = []
        for name, agent in self.agents.items():
            for used in agent.tool_servers:
                if used not in self.tool_servers:
                    problems.append(f"agents.{name}.tool_servers: unknown tool server {used!r}")
            if agent.type == TOOLS_AGENT_TYPE and not agent.tool_servers:
                problems.append(f"agents.{name}.tool_servers: a tools agent needs at least one")
            elif agent.type == TOOLS_AGENT_TYPE and agent.fallback is not None:
                problems.append(
                    f"agents.{name}.fallback: tools agents do not fall back (a run's tool calls"
                    " cannot be handed to another agent); remove it"
                )
            elif agent.type != TOOLS_AGENT_TYPE and agent.tool_servers:
                problems.append(
                    f"agents.{name}.tool_servers: only agents of type {TOOLS_AGENT_TYPE!r} call"
                    " tools; set type: tools or remove tool_servers"
                )
        variables: dict[str, str] = {}
        for name, server in self.tool_servers.items():
            var = tool_server_token_env(name)
            if var in variables:
                problems.append(
                    f"tool_servers.{name}: its secret name {var} is also tool server"
                    f" {variables[var]!r}'s; rename one"
                )
            variables[var] = name
            if server.auth == "bearer" and not self.tool_server_token(name):
                problems.append(f"{var}: required while tool_servers.{name}.auth is bearer")
        return problems

    def tool_server_token(self, name: str) -> str | None:
        secret = self.tool_server_tokens.get(tool_server_token_env(name))
        return secret.get_secret_value() if secret else None

    def provider(self, name: ProviderName) -> ProviderSettings:
        return self.providers.get(name) or ProviderSettings()

    def provider_key(self, name: ProviderName) -> str | None:
        secret = self.openai_api_key if name == "openai" else self.anthropic_api_key
        return secret.get_secret_value() if secret else None


def _fallback_cycle(agents: Mapping[str, AgentSettings], start: str) -> bool:
    seen = {start}
    current = agents[start].fallback
    while current is not None and current in agents:
        if current in seen:
            return current == start
        seen.add(current)
        current = agents[current].fallback
    return False


class ConfigError(ValueError):
    """Invalid configuration. ``problems`` holds one ``key.path: message`` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def load_config(environ: Mapping[str, str] | None = None) -> AppConfig:
    """Build the config from ``AGENTSMCP_CONFIG`` (if set), env overrides and secrets."""
    env = os.environ if environ is None else environ
    token = _ENVIRON.set(env)
    try:
        return _EnvironmentConfig()
    except ValidationError as exc:
        raise ConfigError(
            _problems(exc, {path: var for var, path in ENV_OVERRIDES.items() if env.get(var)})
        ) from None
    finally:
        _ENVIRON.reset(token)


# The mapping load_config reads; settings_customise_sources is a classmethod and takes no arguments.
_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("agentsmcp_environ")


class _EnvironmentConfig(AppConfig, BaseSettings):
    """AppConfig assembled by pydantic-settings from its sources, highest priority first."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = _ENVIRON.get()
        # The YAML source reads (and reports a bad file) first, as before any other problem.
        yaml_source = _YamlSource(settings_cls, env.get(CONFIG_PATH_ENV) or None)
        return (_OverrideSource(settings_cls, env), _SecretSource(settings_cls, env), yaml_source)


class _YamlSource(YamlConfigSettingsSource):
    """pydantic-settings' YAML source, with our error lines: it skips a missing file and takes
    any top-level value, where a named file must exist, hold a mapping and carry no secret."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | None) -> None:
        if path and not Path(path).is_file():
            try:
                Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    [f"{CONFIG_PATH_ENV}: cannot read {path}: {exc.strerror}"]
                ) from None
        super().__init__(settings_cls, yaml_file=path, yaml_file_encoding="utf-8")

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            loaded = super()._read_file(file_path)
        except OSError as exc:
            raise ConfigError(
                [f"{CONFIG_PATH_ENV}: cannot read {file_path}: {exc.strerror}"]
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(
                [f"{CONFIG_PATH_ENV}: {file_path} is not valid YAML{where}"]
            ) from None
        if not isinstance(loaded, dict):
            raise ConfigError(
                [f"{CONFIG_PATH_ENV}: {file_path} must hold a mapping at the top level"]
            )
        for field in (*SECRET_ENV.values(), "secret_files", "tool_server_tokens"):
            if field in loaded:
                raise ConfigError(
                    [
                        f"{field}: secrets come only from the environment or secret files,"
                        " not this file"
                    ]
                )
        return loaded


class _EnvSource(PydanticBaseSettingsSource):
    """A source that builds the whole settings dict from an environment mapping at once."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False


class _OverrideSource(_EnvSource):
    """The ENV_OVERRIDES table. Ours: pydantic-settings' env source names a nested key
    AGENTSMCP_SERVER__PORT, and the deployed variable names (AGENTSMCP_PORT, ...) are kept."""

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for var, path in ENV_OVERRIDES.items():
            value = self._env.get(var)
            if value:
                node = data
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = value
        return data


class _SecretSource(_EnvSource):
    """Secrets from NAME, NAME_FILE or $AGENTSMCP_SECRETS_DIR/NAME (app/secret_files.py), and
    the files they are re-read from at runtime. Ours: pydantic-settings' secrets source reads
    only a directory, once, with neither NAME_FILE nor the paths rotation needs."""

    def __call__(self) -> dict[str, Any]:
        env = self._env
        data: dict[str, Any] = {}
        paths, problems = secret_paths(list(SECRET_ENV), env)
        for var, field in SECRET_ENV.items():
            value = env.get(var) or None
            if var in paths:
                try:
                    required = bool(env.get(var + FILE_SUFFIX))
                    value = read_secret_file(paths[var], required=required, name=var)
                except SecretFileError as exc:
                    problems.append(str(exc))
            if value:
                data[field] = value
        tokens = _tool_server_token_names(env)
        token_paths, token_problems = secret_paths(tokens, env)
        problems += token_problems
        data["tool_server_tokens"] = {}
        for var in tokens:
            value = env.get(var) or None
            if var in token_paths:
                try:
                    required = bool(env.get(var + FILE_SUFFIX))
                    value = read_secret_file(token_paths[var], required=required, name=var)
                except SecretFileError as exc:
                    problems.append(str(exc))
            if value:
                data["tool_server_tokens"][var] = value
        if problems:
            raise ConfigError(problems)
        data["secret_files"] = {**paths, **token_paths}
        return data


def _tool_server_token_names(env: Mapping[str, str]) -> list[str]:
    """TOOL_SERVER_<NAME>_TOKEN secrets present as variables, _FILE variables or files in the
    secrets directory (their names depend on the configured servers)."""
    names = {var.removesuffix(FILE_SUFFIX) for var in env}
    directory = env.get(SECRETS_DIR_ENV) or ""
    if directory:
        with contextlib.suppress(OSError):
            names.update(entry.name for entry in os.scandir(directory))
    return sorted(name for name in names if TOOL_SERVER_TOKEN_ENV.match(name))


def parse_config(
    data: Mapping[str, Any], env_paths: Mapping[tuple[str, ...], str] | None = None
) -> AppConfig:
    """Validate a config mapping (the YAML's shape). Raises ConfigError listing every problem."""
    try:
        return AppConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_problems(exc, env_paths)) from None


def _problems(exc: ValidationError, env_paths: Mapping[tuple[str, ...], str] | None) -> list[str]:
    problems = []
    for error in exc.errors():
        if error["type"] == "value_error" and isinstance(
            (ctx := error.get("ctx", {})).get("error"), ConfigError
        ):
            problems.extend(ctx["error"].problems)
            continue
        path = tuple(str(part) for part in error["loc"])
        key = ".".join(path) or "(root)"
        if env_paths and path in env_paths:
            key = f"{env_paths[path]} ({key})"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{key}: {message}")
    return problems
