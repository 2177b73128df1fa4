"""The CRDs our stacks use, from the projects' own published definitions.

Each project ships its generated CRD YAML inside its Go module; `go mod download` fetches the module
zip from the module proxy (checked against the Go checksum database) into the module cache at test
time. Nothing here is committed: only the module versions below.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class CrdSource:
    module: str
    version: str
    files: tuple[str, ...]


SOURCES = (
    CrdSource(
        "k8s.io/autoscaler/vertical-pod-autoscaler", "v1.8.1", ("deploy/vpa-v1-crd-gen.yaml",)
    ),
    CrdSource(
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        (
            "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
            "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
        ),
    ),
    CrdSource(
        "sigs.k8s.io/gateway-api",
        "v1.6.3",
        tuple(
            f"config/crd/standard/gateway.networking.k8s.io_{kind}.yaml"
            for kind in (
                "gatewayclasses",
                "gateways",
                "httproutes",
                "referencegrants",
                "grpcroutes",
            )
        ),
    ),
    # The chart the cluster stack installs with keda.enabled is the same release (2.20.2).
    CrdSource(
        "github.com/kedacore/keda/v2",
        "v2.20.2",
        tuple(
            f"config/crd/bases/keda.sh_{kind}.yaml"
            for kind in ("scaledobjects", "triggerauthentications", "clustertriggerauthentications")
        ),
    ),
    CrdSource(
        "github.com/external-secrets/external-secrets",
        "v1.3.2",
        tuple(
            f"config/crds/bases/external-secrets.io_{kind}.yaml"
            for kind in ("externalsecrets", "secretstores", "clustersecretstores")
        ),
    ),
    CrdSource(
        "github.com/cert-manager/cert-manager",
        "v1.21.2",
        tuple(
            f"deploy/crds/cert-manager.io_{kind}.yaml"
            for kind in ("certificates", "certificaterequests", "issuers", "clusterissuers")
        ),
    ),
)


class CrdFetchError(RuntimeError):
    pass


def module_dir(module: str, version: str) -> Path:
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        detail = info.get("Error") or result.stderr.strip()
        raise CrdFetchError(f"go mod download {module}@{version} failed: {detail}")
    return Path(info["Dir"])


def crd_documents() -> list[dict[str, object]]:
    """Every CustomResourceDefinition in SOURCES, parsed."""
    docs: list[dict[str, object]] = []
    for source in SOURCES:
        root = module_dir(source.module, source.version)
        for name in source.files:
            path = root / name
            if not path.is_file():
                raise CrdFetchError(f"{source.module}@{source.version} has no {name}")
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    docs.append(doc)
    return docs


KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


def kwok_version(root: Path) -> str:
    """The kwok version e2e/tools/kwok/go.mod pins (the one the built binary is)."""
    result = subprocess.run(
        ["go", "list", "-mod=readonly", "-m", "-f", "{{.Version}}", "sigs.k8s.io/kwok"],
        cwd=root / "e2e" / "tools" / "kwok",
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CrdFetchError(f"cannot read kwok's version: {result.stderr.strip()}")
    return result.stdout.strip()


def kwok_stage_files(root: Path) -> list[Path]:
    """kwok's own "fast" node and pod stages (nodes Ready with leases, pods Running and Ready),
    from the kwok module the binary was built from."""
    module = module_dir("sigs.k8s.io/kwok", kwok_version(root))
    files = [module / name for name in KWOK_STAGES]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise CrdFetchError(f"kwok module lacks its stage files: {', '.join(missing)}")
    return files
