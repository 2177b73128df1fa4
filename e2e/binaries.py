"""Where the e2e binaries are: build/e2e-tools/bin (symlinks from scripts/e2e-tools.sh)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS_BIN = Path(os.environ.get("E2E_TOOLS_BIN", ROOT / "build" / "e2e-tools" / "bin"))
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
KWOK = ("kwok",)
PULUMI = ("pulumi", "pulumi-resource-kubernetes")


class ToolsMissing(RuntimeError):
    pass


def tool(name: str) -> Path:
    path = TOOLS_BIN / name
    if not os.access(path, os.X_OK):
        raise ToolsMissing(f"{path} is missing: run `make e2e-tools` (scripts/e2e-tools.sh) first")
    return path


def require(*names: str) -> None:
    for name in names:
        tool(name)
