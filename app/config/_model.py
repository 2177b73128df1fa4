"""The config model: its sections (_schema.py), checked against each other (_checks.py)."""

from __future__ import annotations

from typing import Self

from pydantic import model_validator

from app.config._checks import cross_check_problems
from app.config._errors import ConfigError
from app.config._schema import ConfigFields


class AppConfig(ConfigFields):
    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        problems = cross_check_problems(self)
        if problems:
            raise ConfigError(problems)
        return self
