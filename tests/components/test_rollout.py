"""Ordinary changes roll the Deployment, never replace what the pods mount (issue 26, part 1).

Under mocks: the server's ConfigMap is a new resource per content (named by a hash of it), the
Secret keeps its name and carries the change in a revision the pod template holds, and the
provider updates ConfigMaps and Secrets in place. `make e2e` proves the same against the real
engine and API server (tests/e2e/test_pulumi.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from components.secrets import secret_revision
from tests.components.conftest import config_with, one, server_config, server_config_map
from tools.render_manifests import PLACEHOLDER_SECRETS, PROVIDER_TYPE, ProgramRun, run_program

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"


def _template(run: ProgramRun) -> dict[str, Any]:
    template: dict[str, Any] = one(run, DEPLOYMENT).inputs["spec"]["template"]
    return template


def _config_volume(run: ProgramRun) -> str:
    volumes = {v["name"]: v for v in _template(run)["spec"]["volumes"]}
    name: str = volumes["config"]["configMap"]["name"]
    return name


def _app_secret(run: ProgramRun) -> dict[str, Any]:
    found = [r for r in run.of_type(SECRET) if r.inputs["metadata"]["name"] == "agentsmcp-secrets"]
    assert len(found) == 1
    return found[0].inputs


def _with_rate(stack: str, requests_per_minute: int) -> dict[str, Any]:
    return config_with(
        stack,
        serverConfig=server_config(stack, rate_limit={"requests_per_minute": requests_per_minute}),
    )


def test_config_map_is_named_by_its_content() -> None:
    run = run_program("dev")
    config_map = server_config_map(run)
    text = config_map.inputs["data"]["config.yaml"]
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    assert config_map.inputs["metadata"]["name"] == f"agentsmcp-config-{digest}"
    # A new Pulumi resource per content: a change is a create and a delete, never a replace.
    assert config_map.name == f"server-config-{digest}"
    assert _config_volume(run) == f"agentsmcp-config-{digest}"
    # Same content, same name: nothing churns on an unchanged stack.
    assert server_config_map(run_program("dev")).name == config_map.name


def test_a_server_setting_changes_the_config_map_name_only() -> None:
    before, after = (
        run_program("prod", config=_with_rate("prod", 61)),
        run_program("prod", config=_with_rate("prod", 62)),
    )
    old, new = server_config_map(before), server_config_map(after)
    assert old.name != new.name
    assert old.inputs["metadata"]["name"] != new.inputs["metadata"]["name"]
    assert _config_volume(after) == new.inputs["metadata"]["name"]
    # The Deployment stays the same object; its pod template changes (a rolling update).
    assert one(before, DEPLOYMENT).name == one(after, DEPLOYMENT).name
    assert one(before, DEPLOYMENT).inputs["metadata"] == one(after, DEPLOYMENT).inputs["metadata"]
    assert _template(before) != _template(after)


def test_a_secret_change_rolls_the_pods_and_keeps_the_secret() -> None:
    rotated = {**PLACEHOLDER_SECRETS, "openaiApiKey": "sk-rotated-" + "r" * 40}
    before, after = run_program("prod"), run_program("prod", secrets=rotated)
    old, new = _app_secret(before), _app_secret(after)
    # The same Secret (updated in place): the pods' volume never points at a missing object.
    assert old["metadata"] == new["metadata"]
    revisions = [
        _template(run)["metadata"]["annotations"]["checksum/secrets"] for run in (before, after)
    ]
    assert revisions[0] != revisions[1]
    # Nothing else about the pods changes.
    assert server_config_map(before).name == server_config_map(after).name
    old_spec, new_spec = _template(before)["spec"], _template(after)["spec"]
    assert old_spec == new_spec


def test_the_secret_revision_is_a_keyed_hash_revealing_nothing() -> None:
    run = run_program("prod")
    values = _app_secret(run)["stringData"]["value"]
    revision = _template(run)["metadata"]["annotations"]["checksum/secrets"]
    assert revision == secret_revision(values, values["JWT_SECRET_KEY"])
    assert all(revision not in value and value not in revision for value in values.values())
    # Keyed: the same values under another key give another revision.
    assert secret_revision(values, "another-key") != revision


def test_provider_updates_config_maps_and_secrets_in_place() -> None:
    for run in (run_program("dev"), run_program("prod")):
        inputs = one(run, PROVIDER_TYPE).inputs
        assert inputs["enableConfigMapMutable"] == "true"
        assert inputs["enableSecretMutable"] == "true"


def test_valkey_restarts_when_its_config_changes() -> None:
    def annotations(max_memory: str) -> dict[str, str]:
        config = config_with(
            "prod",
            limitsStore={"mode": "valkey", "valkey": {"maxMemory": max_memory}},
            serverConfig=server_config("prod", rate_limit={"backend": "redis"}),
        )
        statefulset = one(run_program("prod", config=config), STATEFUL_SET)
        found: dict[str, str] = statefulset.inputs["spec"]["template"]["metadata"]["annotations"]
        return found

    assert annotations("100mb") != annotations("120mb")
    assert set(annotations("100mb")) == {"checksum/config"}
