"""The environment contract: every variable the server reads, and the secrets it takes from it.

Secrets never come from the YAML file: from the environment variable, the file named by
``<NAME>_FILE``, or ``$AGENTSMCP_SECRETS_DIR/<NAME>`` (see app/secret_files.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from app.secret_files import FILE_SUFFIX, SECRETS_DIR_ENV

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

# Secrets -> AppConfig field: each sets the field of its own name in lower case.
SECRET_ENV: dict[str, str] = {
    name: name.lower()
    for name in (
        "JWT_SECRET_KEY",
        "JWT_PREVIOUS_SECRET_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "REDIS_URL",
        "REDIS_PASSWORD",
    )
}
# AppConfig fields only the environment sets: the YAML file must not carry them.
ENVIRONMENT_ONLY_FIELDS = (*SECRET_ENV.values(), "secret_files", "tool_server_tokens")

# The standard OpenTelemetry variables (app/observability/tracing.py): an endpoint turns tracing
# on; the SDK itself reads the service name, resource attributes and sampler.
TRACES_ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACES_PROTOCOL_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
OTEL_SDK_DISABLED_ENV = "OTEL_SDK_DISABLED"
OTEL_TRACES_EXPORTER_ENV = "OTEL_TRACES_EXPORTER"
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
OTEL_SDK_ENVS = (
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
)
OTEL_ENV_VARS: frozenset[str] = frozenset(
    {
        *TRACES_ENDPOINT_ENVS,
        *TRACES_PROTOCOL_ENVS,
        OTEL_SDK_DISABLED_ENV,
        OTEL_TRACES_EXPORTER_ENV,
        CAPTURE_CONTENT_ENV,
        *OTEL_SDK_ENVS,
    }
)

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
        *OTEL_ENV_VARS,
    }
)

PROVIDER_KEY_ENV: dict[str, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

TOOL_SERVER_TOKEN_ENV = re.compile(r"^TOOL_SERVER_[A-Z0-9_]+_TOKEN$")


def tool_server_token_env(name: str) -> str:
    """The secret holding a tool server's bearer token (one definition)."""
    return f"TOOL_SERVER_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_TOKEN"


def deployed_version(environ: Mapping[str, str] | None = None) -> str:
    """``AGENTSMCP_VERSION`` (set by the image from its VERSION build arg), else the package's."""
    from app import __version__

    env = os.environ if environ is None else environ
    return env.get(VERSION_ENV) or __version__
