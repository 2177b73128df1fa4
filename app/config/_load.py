"""The ways in: ``load_config`` (the YAML file, the environment overrides and the secrets, through
pydantic-settings) and ``parse_config`` (a mapping alone)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.config._environment import CONFIG_PATH_ENV, ENV_OVERRIDES
from app.config._errors import ConfigError, validation_problems
from app.config._model import AppConfig
from app.config._sources import OverrideSource, SecretSource, YamlSource

# The mapping load_config reads; settings_customise_sources is a classmethod and takes no arguments.
_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("agentsmcp_environ")


def load_config(environ: Mapping[str, str] | None = None) -> AppConfig:
    """Build the config from ``AGENTSMCP_CONFIG`` (if set), env overrides and secrets."""
    env = os.environ if environ is None else environ
    token = _ENVIRON.set(env)
    try:
        return _EnvironmentConfig()
    except ValidationError as exc:
        raise ConfigError(
            validation_problems(
                exc, {path: var for var, path in ENV_OVERRIDES.items() if env.get(var)}
            )
        ) from None
    finally:
        _ENVIRON.reset(token)


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
        yaml_source = YamlSource(settings_cls, env.get(CONFIG_PATH_ENV) or None)
        return (OverrideSource(settings_cls, env), SecretSource(settings_cls, env), yaml_source)


def parse_config(
    data: Mapping[str, Any], env_paths: Mapping[tuple[str, ...], str] | None = None
) -> AppConfig:
    """Validate a config mapping (the YAML's shape). Raises ConfigError listing every problem."""
    try:
        return AppConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, env_paths)) from None
