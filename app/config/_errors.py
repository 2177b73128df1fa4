"""Configuration problems, each one ``key.path: message`` line."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError


class ConfigError(ValueError):
    """Invalid configuration. ``problems`` holds one ``key.path: message`` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def validation_problems(
    exc: ValidationError, env_paths: Mapping[tuple[str, ...], str] | None
) -> list[str]:
    """One line per error; a key set by an environment variable is named by that variable."""
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
