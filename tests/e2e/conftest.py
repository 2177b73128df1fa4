"""The e2e tier's fixtures: one real control plane per test session (see e2e/controlplane.py).

Every test under tests/e2e is marked ``e2e``; `make unit` deselects them and `make e2e` runs them
after building the binaries with `make e2e-tools`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.binaries import CONTROL_PLANE, KWOK, ROOT, ToolsMissing, require
from e2e.controlplane import ControlPlane, install_crds
from e2e.crds import crd_documents

STACKS = ("dev", "staging", "prod")
# Rendered like the stacks, from a stack's file with these settings (and serverConfig sections
# merged in): what no stack file turns on yet.
VARIANTS: dict[str, tuple[str, dict[str, object], dict[str, dict[str, object]]]] = {
    # The shared limits store deployed in the namespace (a Valkey StatefulSet).
    "prod-valkey": (
        "prod",
        {
            "agentsmcp:namespace": "agentsmcp-prod-valkey",
            "agentsmcp:limitsStore": {"mode": "valkey"},
        },
        {"rate_limit": {"backend": "redis"}},
    ),
    # KEDA scaling on in-flight agent requests per pod instead of the HPA.
    "prod-keda": (
        "prod",
        {
            "agentsmcp:namespace": "agentsmcp-prod-keda",
            "agentsmcp:autoscaling": {
                "enabled": True,
                "scaler": "keda",
                "minReplicas": 5,
                "maxReplicas": 50,
                "keda": {"fallbackReplicas": 10},
            },
        },
        {},
    ),
}
_RENDER_VARIANT = """
import json, sys
from pathlib import Path
from components.stack_file import stack_config
from tools.render_manifests import render_stack
stack, overrides, sections, out = (
    sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), Path(sys.argv[4])
)
config = stack_config(stack)
server_config = config["agentsmcp:serverConfig"]
for name, section in sections.items():
    server_config[name] = {**server_config.get(name, {}), **section}
render_stack(stack, out, config={**config, **overrides})
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    try:
        require(*CONTROL_PLANE, *KWOK)
    except ToolsMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    cp = ControlPlane(tmp_path_factory.mktemp("cluster"))
    cp.start()
    try:
        install_crds(cp, crd_documents())
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each stack rendered by `python -m tools.render_manifests` (what `make render` writes)."""
    out = tmp_path_factory.mktemp("manifests")
    dirs = {}
    for stack in STACKS:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.render_manifests",
                "--stack",
                stack,
                "--out",
                str(out / stack),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        dirs[stack] = out / stack
    for variant, (stack, overrides, sections) in VARIANTS.items():
        subprocess.run(
            [
                sys.executable,
                "-c",
                _RENDER_VARIANT,
                stack,
                json.dumps(overrides),
                json.dumps(sections),
                str(out / variant),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        dirs[variant] = out / variant
    return dirs
