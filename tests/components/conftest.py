"""Fixtures: the real Pulumi program run once per stack under mocks (preview=False)."""

from __future__ import annotations

from typing import Any

import pytest

from components.stack_file import stack_config, with_overrides
from components.workload import CONFIG_MAP_PREFIX
from tools.render_manifests import ProgramRun, Registration, run_program

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


def server_config_map(run: ProgramRun) -> Registration:
    """The server's ConfigMap, named by its content (components.workload.CONFIG_MAP_PREFIX)."""
    found = [
        reg
        for reg in run.of_type("kubernetes:core/v1:ConfigMap")
        if reg.inputs["metadata"]["name"].startswith(f"{CONFIG_MAP_PREFIX}-")
    ]
    assert len(found) == 1, f"expected one server ConfigMap, got {[r.name for r in found]}"
    return found[0]


def config_with(stack: str, **overrides: Any) -> dict[str, Any]:
    """The stack file's config with ``agentsmcp:<key>`` values replaced (None removes a key)."""
    return with_overrides(stack_config(stack), overrides)


def server_config(stack: str, **sections: Any) -> dict[str, Any]:
    """The stack file's ``agentsmcp:serverConfig`` with whole sections replaced."""
    return {**stack_config(stack)["agentsmcp:serverConfig"], **sections}


def ingress_tls_staging_config(**overrides: Any) -> dict[str, Any]:
    """staging exposed through an Ingress with cert-manager TLS (HTTP-01), no cluster stack."""
    exposure = {
        "mode": "ingress",
        "host": "agentsmcp.staging.example.com",
        "tls": {
            "enabled": True,
            "clusterIssuer": "letsencrypt-staging",
            "secretName": "agentsmcp-staging-tls",
        },
    }
    return config_with("staging", cluster=None, exposure=exposure, **overrides)
