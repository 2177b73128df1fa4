"""checkov on the rendered manifests, with skips only in validation/checkov-skips.yaml."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from validation._checkov import SKIPS_FILE, SkipConfigError, load_skips

from .conftest import ValidatorRun, edit, object_file


def _container(document: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = document["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.mark.slow
def test_checkov_failures_are_findings(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    def weaken(document: dict[str, Any]) -> None:
        container = _container(document)
        container["image"] = "ghcr.io/agentsmcp/agentsmcp:latest"
        del container["resources"]["limits"]
        del container["livenessProbe"]

    edit(object_file(manifests, "deployment-"), weaken)

    result = run_validator("--only", "policy", manifests=manifests)

    assert result.returncode == 1
    for check in ("CKV_K8S_14", "CKV_K8S_43", "CKV_K8S_8", "CKV_K8S_11", "CKV_K8S_13"):
        assert check in result.output


@pytest.mark.slow
def test_a_skip_annotation_in_a_manifest_is_refused(
    run_validator: Callable[..., ValidatorRun], manifests: Path
) -> None:
    edit(
        object_file(manifests, "deployment-"),
        lambda d: d["spec"]["template"]["metadata"]["annotations"].update(
            {"checkov.io/skip1": "CKV_K8S_43=digest not needed"}
        ),
    )

    result = run_validator("--only", "policy", manifests=manifests)

    assert result.returncode == 1
    assert "annotation checkov.io/skip1: skip checks only in checkov-skips.yaml" in result.output


def test_every_checked_in_skip_has_a_one_line_reason() -> None:
    skips = load_skips()

    assert skips, "the skip file parses"
    assert all(reason.strip() and "\n" not in reason for reason in skips.values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CKV_K8S_40:\n", "CKV_K8S_40: needs a one-line reason"),
        ("CKV_K8S_40: ''\n", "CKV_K8S_40: needs a one-line reason"),
        ("K8S_40: because\n", "'K8S_40' is not a checkov check ID"),
        ("- CKV_K8S_40\n", "must map check IDs to reasons"),
    ],
)
def test_a_skip_without_a_reason_or_a_real_id_is_rejected(
    tmp_path: Path, text: str, expected: str
) -> None:
    skips = tmp_path / SKIPS_FILE.name
    skips.write_text(text, encoding="utf-8")

    with pytest.raises(SkipConfigError, match=expected):
        load_skips(skips)
