"""Reading ``Pulumi.<stack>.yaml`` without the Pulumi CLI (deploy scripts, smoke tests, renders)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components.config import NAMESPACE

ROOT = Path(__file__).resolve().parent.parent


def stack_config(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """The ``config:`` mapping of ``Pulumi.<stack>.yaml`` (keys with their namespace)."""
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise SystemExit(f"no such stack file: {path}")
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise SystemExit(f"{path}: 'config' must be a mapping")
    return config


def with_overrides(
    config: Mapping[str, Any], overrides: Mapping[str, Any], namespace: str = NAMESPACE
) -> dict[str, Any]:
    """``config`` with ``<namespace>:<key>`` set to each override's value (None removes the key)."""
    result = dict(config)
    for key, value in overrides.items():
        if value is None:
            result.pop(f"{namespace}:{key}", None)
        else:
            result[f"{namespace}:{key}"] = value
    return result
