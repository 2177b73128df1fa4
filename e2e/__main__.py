"""``python -m e2e up|down [--dir build/cluster]``: the control plane for `make cluster-up/down`.

``up`` starts it in the background (the processes outlive this command; their pids are in
``<dir>/pids.json``), installs the CRDs our stacks use and prints the kubeconfig path. ``down``
stops exactly those processes and removes the directory.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from e2e.binaries import ToolsMissing
from e2e.controlplane import ControlPlane, ControlPlaneError, install_crds, stop_recorded
from e2e.crds import CrdFetchError, crd_documents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e")
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--dir", type=Path, default=Path("build/cluster"))
    args = parser.parse_args(argv)
    workdir: Path = args.dir.resolve()
    if args.action == "down":
        stopped = stop_recorded(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return 0
    if (workdir / "pids.json").exists():
        print(f"a control plane is already recorded in {workdir}: run `make cluster-down` first")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    cp = ControlPlane(workdir)
    try:
        cp.start()
        crds = install_crds(cp, crd_documents())
    except (ToolsMissing, ControlPlaneError, CrdFetchError) as exc:
        cp.stop()
        print(f"cluster-up failed: {exc}", file=sys.stderr)
        return 1
    print(f"control plane up at {cp.server} with {cp.nodes} kwok nodes and {len(crds)} CRDs")
    print(f"export KUBECONFIG={cp.kubeconfig}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
