"""Issue 11 items 4, 11, 13: pull Secret, version and rebuild hygiene, ordering, dev keys."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.config import StackConfigError, parse_stack_config
from components.image import source_revision
from tests.components.conftest import config_with, one
from tools.render_manifests import PLACEHOLDER_SECRETS, SECRET_SIG, SIG_KEY, ProgramRun, run_program

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"


def _secrets(run: ProgramRun) -> dict[str, Any]:
    return {s.inputs["type"]: s for s in run.of_type(SECRET)}


def test_deployment_depends_on_the_secrets_it_mounts(run: ProgramRun) -> None:
    deployment = one(run, DEPLOYMENT)
    for secret in run.of_type(SECRET):
        assert secret.urn in deployment.dependencies, secret.inputs["metadata"]["name"]


def test_private_registry_gets_a_pull_secret_from_the_same_settings() -> None:
    run = run_program("prod")
    pull = _secrets(run)["kubernetes.io/dockerconfigjson"].inputs
    assert pull["metadata"]["name"] == "agentsmcp-registry"
    data = pull["stringData"]
    assert data.get(SIG_KEY) == SECRET_SIG  # the password stays a secret output
    document = json.loads(data["value"][".dockerconfigjson"])
    password = PLACEHOLDER_SECRETS["registryPassword"]
    entry = document["auths"]["ghcr.io"]
    assert entry["username"] == "agentsmcp-ci"
    assert entry["password"] == password
    assert base64.b64decode(entry["auth"]).decode() == f"agentsmcp-ci:{password}"
    spec = one(run, DEPLOYMENT).inputs["spec"]["template"]["spec"]
    assert spec["imagePullSecrets"] == [{"name": "agentsmcp-registry"}]


def test_prebuilt_ref_keeps_the_pull_secret_and_public_registries_need_none() -> None:
    ref = "ghcr.io/agentsmcp/agentsmcp:v1.2.0@sha256:" + "ab" * 32
    image = {"ref": ref, "registry": {"server": "ghcr.io", "username": "agentsmcp-ci"}}
    run = run_program("prod", config=config_with("prod", image=image))
    assert "kubernetes.io/dockerconfigjson" in _secrets(run)
    dev = run_program("dev")
    assert set(_secrets(dev)) == {"Opaque"}
    assert "imagePullSecrets" not in one(dev, DEPLOYMENT).inputs["spec"]["template"]["spec"]


def test_dev_tolerates_a_missing_provider_key_like_the_server() -> None:
    secrets = {k: v for k, v in PLACEHOLDER_SECRETS.items() if k != "anthropicApiKey"}
    run = run_program("dev", secrets=secrets)
    keys = set(_secrets(run)["Opaque"].inputs["stringData"]["value"])
    assert keys == {"JWT_SECRET_KEY", "OPENAI_API_KEY"}
    with pytest.raises(pulumi.RunError, match=r"agentsmcp:anthropicApiKey: required"):
        run_program("staging", secrets=secrets)


def test_previous_jwt_key_reaches_the_secret_during_a_rotation() -> None:
    secrets = {**PLACEHOLDER_SECRETS, "jwtPreviousSecretKey": "previous-" + "p" * 40}
    run = run_program("staging", secrets=secrets)
    data = _secrets(run)["Opaque"].inputs["stringData"]["value"]
    assert data["JWT_PREVIOUS_SECRET_KEY"] == "previous-" + "p" * 40


@pytest.mark.parametrize(
    "version", ["1.2.0+build.7", "v" + "1" * 63, "-1.0", "1.0-", "1.0/x", "1.0 beta"]
)
def test_version_must_be_a_valid_label_and_tag(version: str) -> None:
    raw = {"environment": "development", "namespace": "x", "image": {"repository": "r.io/a/b"}}
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config({**raw, "image": {**raw["image"], "version": version}})
    assert caught.value.problems[0].startswith("agentsmcp:image.version: ")
    assert len(caught.value.problems) == 1


@pytest.mark.parametrize("version", ["v1.2.0", "1.2.0-rc.1", "1.2.0_build.7", "v" + "1" * 62])
def test_versions_users_deploy_are_accepted(version: str) -> None:
    raw = {"environment": "development", "namespace": "x", "image": {"repository": "r.io/a/b"}}
    parse_stack_config({**raw, "image": {**raw["image"], "version": version}})


def test_labels_show_the_deployed_version_not_the_tag() -> None:
    image = {"repository": "localhost:5001/agentsmcp", "version": "v2.3.4", "tag": "nightly"}
    run = run_program("dev", config=config_with("dev", image=image))
    deployment = one(run, DEPLOYMENT).inputs
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "v2.3.4"
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == (
        "v2.3.4"
    )
    build = one(run, "docker:index/image:Image").inputs
    assert build["build"]["args"]["VERSION"] == "v2.3.4"
    assert build["imageName"] == "localhost:5001/agentsmcp:nightly"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_only_commits_to_the_image_inputs_change_the_build_args(tmp_path: Path) -> None:
    """A real git repository: README and program commits keep VCS_REF/BUILD_DATE (so
    pulumi-docker sees no change and the pods do not roll); app/ and Dockerfile commits change
    them; uncommitted app/ edits are marked dirty."""
    settings = parse_stack_config(
        {"environment": "development", "namespace": "x", "image": {"repository": "r.io/a/b"}}
    ).image
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "Dockerfile").write_text("FROM scratch\n")
    (repo / ".dockerignore").write_text("*\n!app/\n")
    (repo / "app" / "requirements.txt").write_text("aiohttp==3.12.15\n")
    (repo / "README.md").write_text("v1\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first")
    first = _git(repo, "rev-parse", "HEAD")
    assert source_revision(repo, settings)[0] == first

    (repo / "README.md").write_text("v2\n")
    (repo / "__main__.py").write_text("print()\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "docs and program")
    assert source_revision(repo, settings)[0] == first

    (repo / "app" / "requirements.txt").write_text("aiohttp==3.13.0\n")
    assert source_revision(repo, settings)[0] == f"{first}-dirty"
    _git(repo, "commit", "-q", "-am", "bump")
    bumped = _git(repo, "rev-parse", "HEAD")
    revision, date = source_revision(repo, settings)
    assert revision == bumped != first
    assert date == _git(repo, "log", "-1", "--format=%cI")

    (repo / "Dockerfile").write_text("FROM scratch\nENV A=1\n")
    _git(repo, "commit", "-q", "-am", "dockerfile")
    assert source_revision(repo, settings)[0] == _git(repo, "rev-parse", "HEAD")


def test_revision_outside_a_git_checkout_is_unknown(tmp_path: Path) -> None:
    settings = parse_stack_config(
        {"environment": "development", "namespace": "x", "image": {"repository": "r.io/a/b"}}
    ).image
    assert source_revision(tmp_path, settings) == ("unknown", "1970-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("colour", "blue", "agentsmcp:colour: unknown key"),
        (
            "image",
            {"repository": "localhost:5001/agentsmcp", "version": "1.2.0+build.7"},
            "agentsmcp:image.version: '1.2.0+build.7' must be valid as a label value",
        ),
        (
            "serverConfig",
            {"server": {"port": 8000, "secrets_refresh_seconds": 0}},
            "agentsmcp:serverConfig.server.secrets_refresh_seconds: Input should be greater than"
            " or equal to 1",
        ),
        ("kubernetes", {"context": ""}, "agentsmcp:kubernetes.context: String should have"),
    ],
)
def test_config_mistakes_stop_preview_with_one_line_naming_the_key(
    key: str, value: Any, line: str
) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        run_program("dev", preview=True, config=config_with("dev", **{key: value}))
    lines = [text.strip() for text in str(caught.value).splitlines()[1:]]
    assert len(lines) == 1, lines
    assert lines[0].startswith(line), lines
