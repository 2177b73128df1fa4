"""The e2e tier's fixtures: one real control plane per test session (see e2e/controlplane.py).

Every test under tests/e2e is marked ``e2e``; `make unit` deselects them and `make e2e` runs them
after building the binaries with `make e2e-tools`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from e2e.binaries import CONTROL_PLANE, KWOK, ROOT, ToolsMissing, require
from e2e.controlplane import ControlPlane, install_crds
from e2e.crds import crd_documents

STACKS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class Variant:
    """Rendered like the stacks, from ``stack``'s file with these settings (and serverConfig
    sections merged in, secrets replaced): what no stack file turns on yet."""

    stack: str
    overrides: dict[str, object]
    sections: dict[str, dict[str, object]] = field(default_factory=dict)
    secrets: dict[str, object] | None = None
    # Merged over the config of the cluster stack the app stack references.
    cluster: dict[str, object] = field(default_factory=dict)


# The store keys the prod-external-secrets variant reads (one Vault KV secret, three fields).
EXTERNAL_SECRET_DATA = {
    name: {"key": "agentsmcp/prod", "property": name.lower()}
    for name in ("JWT_SECRET_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
}
VARIANTS: dict[str, Variant] = {
    # The shared limits store deployed in the namespace (a Valkey StatefulSet).
    "prod-valkey": Variant(
        "prod",
        {
            "agentsmcp:namespace": "agentsmcp-prod-valkey",
            "agentsmcp:limitsStore": {"mode": "valkey"},
        },
        {"rate_limit": {"backend": "redis"}},
    ),
    # KEDA scaling on in-flight agent requests per pod instead of the HPA.
    "prod-keda": Variant(
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
        cluster={"agentsmcp-cluster:keda": {"enabled": True}},
    ),
    # The app's secrets from a ClusterSecretStore through an ExternalSecret (no stack secrets but
    # the registry password).
    "prod-external-secrets": Variant(
        "prod",
        {
            "agentsmcp:namespace": "agentsmcp-prod-eso",
            "agentsmcp:externalSecrets": {
                "enabled": True,
                "store": {"name": "vault-backend", "kind": "ClusterSecretStore"},
                "refreshInterval": "15m",
                "data": EXTERNAL_SECRET_DATA,
            },
        },
        secrets={"registryPassword": "e2e-registry-password"},
        cluster={"agentsmcp-cluster:externalSecrets": {"enabled": True}},
    ),
}
_RENDER_VARIANT = """
import json, sys
from pathlib import Path
from components.stack_file import stack_config
from tools.render_manifests import render_stack
stack, variant, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
config = stack_config(stack)
server_config = config["agentsmcp:serverConfig"]
for name, section in variant["sections"].items():
    server_config[name] = {**server_config.get(name, {}), **section}
render_stack(
    stack,
    out,
    config={**config, **variant["overrides"]},
    secrets=variant["secrets"],
    cluster_config=variant["cluster"],
)
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
    for name, variant in VARIANTS.items():
        subprocess.run(
            [
                sys.executable,
                "-c",
                _RENDER_VARIANT,
                variant.stack,
                json.dumps(asdict(variant)),
                str(out / name),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        dirs[name] = out / name
    return dirs
