"""Read the render output: ``build/manifests/<stack>/*.yaml`` (one Kubernetes object per file)
and ``build/manifests/<stack>/helm/*.yaml`` (helm Release summaries, which are not objects)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ._findings import CheckResult

HELM_DIR = "helm"


@dataclass(frozen=True)
class Manifest:
    path: Path
    body: dict[str, Any]

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        metadata = self.body.get("metadata") or {}
        return str(metadata.get("name", "")) if isinstance(metadata, dict) else ""

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name} ({self.path.name})"


@dataclass(frozen=True)
class Stack:
    name: str
    directory: Path
    objects: list[Manifest]
    helm_releases: list[Manifest]


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in {".yaml", ".yml"})


def _load_single(path: Path, result: CheckResult) -> dict[str, Any] | None:
    try:
        documents = [
            d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None
        ]
    except yaml.YAMLError as error:
        result.fail(path.name, f"is not valid YAML: {error}")
        return None
    if len(documents) != 1:
        result.fail(path.name, f"holds {len(documents)} documents; the render writes exactly one")
        return None
    document = documents[0]
    if not isinstance(document, dict):
        result.fail(path.name, f"is a {type(document).__name__}, not a mapping")
        return None
    return document


def load_stack(name: str, directory: Path, result: CheckResult) -> Stack:
    """Load one stack; unreadable files become findings on ``result`` (check ``render``)."""
    objects: list[Manifest] = []
    helm_releases: list[Manifest] = []
    if not directory.is_dir():
        result.fail(str(directory), "does not exist: run `make render` first")
        return Stack(name, directory, objects, helm_releases)
    for path in _yaml_files(directory):
        result.runs += 1
        body = _load_single(path, result)
        if body is None:
            continue
        if not body.get("apiVersion") or not body.get("kind"):
            result.fail(path.name, "has no apiVersion/kind: not a Kubernetes object")
            continue
        objects.append(Manifest(path, body))
    helm_dir = directory / HELM_DIR
    if helm_dir.is_dir():
        for path in _yaml_files(helm_dir):
            result.runs += 1
            body = _load_single(path, result)
            if body is not None:
                helm_releases.append(Manifest(path, body))
    if not objects and not helm_releases:
        result.fail(str(directory), "holds no Kubernetes objects and no Helm release")
    return Stack(name, directory, objects, helm_releases)
