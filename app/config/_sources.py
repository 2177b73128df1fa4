"""The pydantic-settings sources of the config: its YAML source with our error lines, and two of
ours that pydantic-settings cannot express (the ENV_OVERRIDES names, and the NAME / NAME_FILE /
secrets-dir secrets that app/secret_files.py re-reads at runtime)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, YamlConfigSettingsSource

from app.config._environment import (
    CONFIG_PATH_ENV,
    ENV_OVERRIDES,
    ENVIRONMENT_ONLY_FIELDS,
    SECRET_ENV,
    TOOL_SERVER_TOKEN_ENV,
)
from app.config._errors import ConfigError
from app.secret_files import (
    FILE_SUFFIX,
    SECRETS_DIR_ENV,
    SecretFileError,
    read_secret_file,
    secret_paths,
)


class YamlSource(YamlConfigSettingsSource):
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
        for field in ENVIRONMENT_ONLY_FIELDS:
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


class OverrideSource(_EnvSource):
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


class SecretSource(_EnvSource):
    """Secrets from NAME, NAME_FILE or $AGENTSMCP_SECRETS_DIR/NAME (app/secret_files.py), and
    the files they are re-read from at runtime. Ours: pydantic-settings' secrets source reads
    only a directory, once, with neither NAME_FILE nor the paths rotation needs."""

    def __call__(self) -> dict[str, Any]:
        env = self._env
        problems: list[str] = []
        secrets, paths = _read_secrets(list(SECRET_ENV), env, problems)
        tokens, token_paths = _read_secrets(_tool_server_token_names(env), env, problems)
        if problems:
            raise ConfigError(problems)
        data: dict[str, Any] = {SECRET_ENV[var]: value for var, value in secrets.items()}
        data["tool_server_tokens"] = tokens
        data["secret_files"] = {**paths, **token_paths}
        return data


def _read_secrets(
    names: list[str], env: Mapping[str, str], problems: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(the value of each secret that has one, the file each file-backed secret is read from);
    what cannot be read is added to ``problems``."""
    paths, path_problems = secret_paths(names, env)
    problems += path_problems
    values: dict[str, str] = {}
    for var in names:
        value = env.get(var) or None
        if var in paths:
            try:
                required = bool(env.get(var + FILE_SUFFIX))
                value = read_secret_file(paths[var], required=required, name=var)
            except SecretFileError as exc:
                problems.append(str(exc))
        if value:
            values[var] = value
    return values, paths


def _tool_server_token_names(env: Mapping[str, str]) -> list[str]:
    """TOOL_SERVER_<NAME>_TOKEN secrets present as variables, _FILE variables or files in the
    secrets directory (their names depend on the configured servers)."""
    names = {var.removesuffix(FILE_SUFFIX) for var in env}
    directory = env.get(SECRETS_DIR_ENV) or ""
    if directory:
        with contextlib.suppress(OSError):
            names.update(entry.name for entry in os.scandir(directory))
    return sorted(name for name in names if TOOL_SERVER_TOKEN_ENV.match(name))
