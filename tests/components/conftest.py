"""Fixtures: the real Pulumi program run once per stack under mocks (preview=False)."""

from __future__ import annotations

from typing import Any

import pytest

from components.render import ProgramRun, Registration, run_program, stack_config

STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, ProgramRun]:
    return {stack: run_program(stack) for stack in STACKS}


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(stack_runs: dict[str, ProgramRun], stack: str) -> ProgramRun:
    return stack_runs[stack]


def one(run: ProgramRun, type_token: str) -> Registration:
    found = run.of_type(type_token)
    assert len(found) == 1, f"expected one {type_token}, got {[r.name for r in found]}"
    return found[0]


def config_with(stack: str, **overrides: Any) -> dict[str, Any]:
    """The stack file's config with ``agentsmcp:<key>`` values replaced (None removes a key)."""
    config = dict(stack_config(stack))
    for key, value in overrides.items():
        full = f"agentsmcp:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value
    return config
