"""The config's schema: pydantic models of the YAML file's sections and of the whole config.

Each model checks its own fields; the rules between sections are in _checks.py.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from app.config._environment import tool_server_token_env
from app.contract.paths import HEALTH_PATH, LIVE_PATH, METRICS_PATH, OPENAPI_PATH, READY_PATH

Environment = Literal["development", "staging", "production"]
ProviderName = Literal["openai", "anthropic"]
AgentName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# What the server's shutdown takes after ``shutdown_timeout_seconds``, which the pods'
# terminationGracePeriodSeconds must cover (components/config/_stack.py): the time streams get
# to write a final event before they are cancelled, then the export of the last spans, bounded
# even when the collector does not answer (the exporter's own timeout is 10 s per attempt).
STREAM_ABORT_GRACE_SECONDS = 2.0
TRACE_FLUSH_SECONDS = 2.0
SHUTDOWN_TAIL_SECONDS = STREAM_ABORT_GRACE_SECONDS + TRACE_FLUSH_SECONDS + 1.0


class ServerSettings(StrictModel):
    host: str = Field("0.0.0.0", min_length=1)
    port: int = Field(8000, ge=1, le=65535)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    drain_seconds: float = Field(5.0, ge=0, le=300)
    shutdown_timeout_seconds: float = Field(25.0, ge=0, le=3600)
    # Agent requests in flight per process; more get a fast 503 (app/core/admission.py). The
    # default is the streams one CPU serves within the latency SLO (docs/operations.md, "Sizing").
    max_inflight_runs: int = Field(300, ge=1, le=100_000)
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


DEFAULT_PUBLIC_PATHS = (HEALTH_PATH, LIVE_PATH, READY_PATH, METRICS_PATH, OPENAPI_PATH)


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


ClaimName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,99}$")]
ClaimValue = Annotated[str, Field(min_length=1, max_length=256)]


class AccessRule(StrictModel):
    """Who may use an agent (docs/security.md). Every kind a rule sets must match; a token may
    use the agent when any one of its rules matches."""

    # Every one of them is in the token's scope string or scp array.
    scopes: list[ScopeToken] | None = Field(None, min_length=1)
    # The token's sub is one of them.
    subjects: list[ClaimValue] | None = Field(None, min_length=1)
    # Each claim named has one of the listed values (a list claim, like groups: one of its items).
    claims: dict[ClaimName, Annotated[list[ClaimValue], Field(min_length=1)]] | None = Field(
        None, min_length=1
    )

    @model_validator(mode="after")
    def _not_empty(self) -> AccessRule:
        if self.scopes is None and self.subjects is None and self.claims is None:
            raise ValueError("a rule needs scopes, subjects or claims")
        return self


# Unset: no rule (any authenticated caller); set: at least one rule.
AccessRules = Annotated[list[AccessRule], Field(min_length=1, max_length=64)]


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
    # The access rules of agents without their own (agents.<name>.access).
    default_access: AccessRules | None = None


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


class A2aSettings(StrictModel):
    """The A2A endpoint: agent cards and ``POST /a2a/<agent>`` (docs/a2a.md)."""

    enabled: bool = True
    # The URL clients reach this server at, as the agent cards advertise it (the Pulumi program
    # sets it from the stack's host); unset: the origin each card request came in on.
    public_base_url: AbsoluteUrl | None = None
    # A task (and a conversation's turns) is kept this long after its last change.
    task_ttl_seconds: float = Field(3600.0, ge=1, le=7 * 86_400)
    # The newest tasks a subject keeps; older ones are dropped (and ListTasks shows these).
    max_tasks_per_subject: int = Field(100, ge=1, le=10_000)
    # Tasks one replica keeps in memory in all (without the shared store).
    max_tasks: int = Field(10_000, ge=1, le=1_000_000)
    # The earlier messages of a contextId a new message carries to the agent.
    max_context_messages: int = Field(20, ge=0, le=200)
    max_context_chars: int = Field(32_000, ge=0, le=1_000_000)

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, url: str | None) -> str | None:
        return None if url is None else url.rstrip("/")


ToolServerName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
# An MCP tool's name as its server lists it (the MCP spec's characters).
McpServerToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]


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
    # OpenAI's range; Anthropic agents take none (see _checks.py).
    temperature: float | None = Field(None, ge=0, le=2)
    fallback: AgentName | None = None
    mcp: AgentMcpSettings = Field(default_factory=AgentMcpSettings)
    # Tools agents (type: tools) only.
    tool_servers: list[ToolServerName] = Field(default_factory=list, max_length=32)
    # Per tool server of tool_servers: only these of its tools (names as the server lists them);
    # a server not named here offers the agent all its tools (within its allowed_tools).
    tools: dict[ToolServerName, Annotated[list[McpServerToolName], Field(min_length=1)]] = Field(
        default_factory=dict
    )
    # Model calls per run; a run that still asks for tools after the last one is incomplete.
    max_steps: int = Field(8, ge=1, le=100)
    tool_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    # A tool result longer than this is cut before the model sees it.
    max_tool_result_chars: int = Field(20_000, ge=100, le=1_000_000)
    # Who may use the agent; unset: auth.default_access, and without that any authenticated caller.
    access: AccessRules | None = None


def _default_providers() -> dict[ProviderName, ProviderSettings]:
    return {"openai": ProviderSettings(), "anthropic": ProviderSettings()}


class ConfigFields(StrictModel):
    """Every section of the config, each valid alone (AppConfig adds the rules between them)."""

    environment: Environment = "development"
    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    a2a: A2aSettings = Field(default_factory=A2aSettings)
    agents: dict[AgentName, AgentSettings] = Field(default_factory=dict)
    tool_servers: dict[ToolServerName, ToolServerSettings] = Field(default_factory=dict)
    providers: dict[ProviderName, ProviderSettings] = Field(default_factory=_default_providers)

    # Secrets: environment only (SECRET_ENV in _environment.py); excluded from dumps.
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

    def tool_server_token(self, name: str) -> str | None:
        secret = self.tool_server_tokens.get(tool_server_token_env(name))
        return secret.get_secret_value() if secret else None

    def provider(self, name: ProviderName) -> ProviderSettings:
        return self.providers.get(name) or ProviderSettings()

    def provider_key(self, name: ProviderName) -> str | None:
        secret = self.openai_api_key if name == "openai" else self.anthropic_api_key
        return secret.get_secret_value() if secret else None
