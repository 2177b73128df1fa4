"""Issue 11 item 5: CI previews each stack with that stack's own credentials.

This reads the workflow files, so it restates them; actionlint (``make validate``) proves they
are valid workflows, and only a real GitHub run proves the Environments hold the right secrets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SECRETS = ("KUBECONFIG", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE")


def _jobs(name: str) -> dict[str, Any]:
    document = yaml.safe_load((ROOT / ".github/workflows" / name).read_text())
    jobs: dict[str, Any] = document["jobs"]
    return jobs


def test_each_stack_is_previewed_with_its_own_environment() -> None:
    preview = _jobs("preview.yml")["preview"]
    assert "${{ matrix.stack }}" in preview["environment"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]


def test_cluster_secrets_are_read_only_in_jobs_bound_to_an_environment() -> None:
    for workflow in ("preview.yml", "deploy.yml"):
        for name, job in _jobs(workflow).items():
            text = yaml.safe_dump(job)
            used = {s for s in CLUSTER_SECRETS if re.search(rf"secrets\.{s}\b", text)}
            if used:
                assert job.get("environment"), (workflow, name, used)


def test_deploy_labels_the_release_with_its_tag() -> None:
    deploy = _jobs("deploy.yml")
    build_args = deploy["image"]["steps"][-1]["with"]["build-args"]
    assert "VERSION=${{ github.ref_name }}" in build_args
    step = next(s for s in deploy["deploy"]["steps"] if "image.version" in s.get("run", ""))
    assert step["env"]["VERSION"] == "${{ github.ref_name }}"
    assert 'image.version "${VERSION}"' in step["run"]
