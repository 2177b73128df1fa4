"""Reading the running stack's config through Pulumi (call inside the program, not at import)."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pydantic import BaseModel
from pydantic.alias_generators import to_camel, to_snake

from components.config._stack import (
    NAMESPACE,
    SECRET_KEYS,
    SERVER_CONFIG_KEY,
    TOOL_SERVER_TOKENS_KEY,
    StackConfig,
    StackConfigError,
    parse_stack_config,
)


def known_keys(model: type[BaseModel]) -> set[str]:
    """The top-level stack keys ``model`` accepts (camelCase, as in ``Pulumi.<stack>.yaml``)."""
    return {field.alias or to_camel(name) for name, field in model.model_fields.items()}


def read_raw_config(
    namespace: str = NAMESPACE,
    secret_keys: tuple[str, ...] = SECRET_KEYS,
    model: type[BaseModel] | None = None,
) -> dict[str, Any]:
    """Every ``namespace:`` setting of the running stack (without prefix), secrets excluded.

    Public APIs only: the keys the CLI passes (``get_config_env``, i.e. ``PULUMI_CONFIG``; this is
    how unknown keys are found) plus every key ``model`` knows, read with ``get_config`` (which
    also sees config set through the Automation API)."""
    prefix = f"{namespace}:"
    known = known_keys(StackConfig if model is None else model)
    keys = set(pulumi.runtime.get_config_env()) | {prefix + key for key in known}
    raw: dict[str, Any] = {}
    for full_key in sorted(keys):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key in secret_keys:
            continue
        value = pulumi.runtime.get_config(full_key)
        if value is not None:
            raw[key] = _decode(value)
    return raw


def _decode(value: Any) -> Any:
    # The CLI hands structured values over as JSON text; scalars stay text for pydantic to coerce.
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


class Secrets:
    """Secret config values, each a secret Output (or None when unset)."""

    def __init__(self, config: pulumi.Config) -> None:
        self.openai_api_key = config.get_secret("openaiApiKey")
        self.anthropic_api_key = config.get_secret("anthropicApiKey")
        self.jwt_secret_key = config.get_secret("jwtSecretKey")
        self.jwt_previous_secret_key = config.get_secret("jwtPreviousSecretKey")
        self.registry_password = config.get_secret("registryPassword")
        self.redis_url = config.get_secret("redisUrl")
        self.redis_password = config.get_secret("redisPassword")
        # Read as text (the names are checked while the program runs, which a secret Output
        # would not allow), each token wrapped as a secret at once.
        self.tool_server_tokens: dict[str, pulumi.Output[str]] = {}
        self.tool_server_tokens_problem: str | None = None
        value = pulumi.runtime.get_config(f"{NAMESPACE}:{TOOL_SERVER_TOKENS_KEY}")
        try:
            tokens = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            tokens = None
        if value is None:
            pass
        elif not isinstance(tokens, dict) or not all(
            isinstance(token, str) and token for token in tokens.values()
        ):
            self.tool_server_tokens_problem = (
                'must be an object of non-empty strings, like {"search": "<token>"}'
            )
        else:
            self.tool_server_tokens = {
                str(name): pulumi.Output.secret(token) for name, token in tokens.items()
            }


def tool_server_token_problems(config: StackConfig, secrets: Secrets) -> list[str]:
    """Every bearer tool server has its token in toolServerTokens, and no other does."""
    key = f"{NAMESPACE}:{TOOL_SERVER_TOKENS_KEY}"
    if secrets.tool_server_tokens_problem is not None:
        return [f"{key}: {secrets.tool_server_tokens_problem}"]
    tokens = secrets.tool_server_tokens
    bearer = config.bearer_tool_servers
    problems = [
        f"{key}.{name}: required because {SERVER_CONFIG_KEY}.tool_servers.{name}.auth is bearer;"
        f" set it with `pulumi config set --secret --path '{TOOL_SERVER_TOKENS_KEY}.{name}'"
        " <token>`"
        for name in bearer
        if name not in tokens
    ]
    problems += [
        f"{key}.{name}: no tool server {name!r} with auth bearer in "
        f"{SERVER_CONFIG_KEY}.tool_servers; remove it with "
        f"`pulumi config rm --path '{TOOL_SERVER_TOKENS_KEY}.{name}'`"
        for name in sorted(tokens)
        if name not in bearer
    ]
    return problems


_PROVIDER_SECRETS = {"openai": "openaiApiKey", "anthropic": "anthropicApiKey"}


# The stack secret keys that become files of the app's Secret (not registryPassword: the pull
# Secret stays the stack's with externalSecrets too).
_APP_SECRET_KEYS = tuple(key for key in SECRET_KEYS if key != "registryPassword")


def load_stack_config() -> tuple[StackConfig, Secrets]:
    """Read and validate the running stack's config. Raises StackConfigError."""
    config = parse_stack_config(read_raw_config())
    secrets = Secrets(pulumi.Config(NAMESPACE))
    problems = []
    if config.image.registry is not None and secrets.registry_password is None:
        problems.append(
            f"{NAMESPACE}:registryPassword: required with image.registry; set it with "
            "`pulumi config set --secret registryPassword`"
        )
    if config.external_secrets.enabled:
        problems += _store_owned_secret_problems()
    else:
        problems += _stack_secret_problems(config, secrets)
    if problems:
        raise StackConfigError(problems)
    return config, secrets


def _store_owned_secret_problems() -> list[str]:
    """With externalSecrets the store holds the app's secrets: one set in the stack as well
    would never reach the pods."""
    return [
        f"{NAMESPACE}:{key}: externalSecrets.enabled takes the app's secrets from the store; "
        f"put it there (externalSecrets.data) and remove it with `pulumi config rm {key}`"
        for key in _APP_SECRET_KEYS
        if pulumi.runtime.get_config(f"{NAMESPACE}:{key}") is not None
    ]


def _stack_secret_problems(config: StackConfig, secrets: Secrets) -> list[str]:
    problems = []
    if config.limits_store.mode == "external" and secrets.redis_url is None:
        problems.append(
            f"{NAMESPACE}:redisUrl: required with limitsStore.mode external; set it with "
            "`pulumi config set --secret redisUrl redis://host:6379/0`"
        )
    # The server runs in development without a provider's key (its agents answer 503).
    used = {agent.provider for agent in config.app.agents.values()}
    for provider in sorted(used if config.environment != "development" else ()):
        secret_key = _PROVIDER_SECRETS[provider]
        if getattr(secrets, to_snake(secret_key)) is None:
            problems.append(
                f"{NAMESPACE}:{secret_key}: required because an agent uses {provider}; set it "
                f"with `pulumi config set --secret {secret_key}`"
            )
    return problems + tool_server_token_problems(config, secrets)
