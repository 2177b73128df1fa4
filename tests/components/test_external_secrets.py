"""``externalSecrets``: the app's secrets from a secret store through an ExternalSecret (External
Secrets Operator); stack secrets stay the default. `make e2e` checks the rendered ExternalSecret
and the documented stores against ESO's published CRDs (tests/e2e/test_server_apply.py)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from tests.components.conftest import config_with, one
from tests.components.test_config import assert_names, raw
from tools.render_manifests import PLACEHOLDER_SECRETS, ProgramRun, run_program

EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DATA = {
    name: {"key": "agentsmcp/prod", "property": name.lower()}
    for name in ("JWT_SECRET_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
}
EXTERNAL = {"enabled": True, "store": {"name": "vault-backend"}, "data": DATA}
# With externalSecrets only the registry password is a stack secret.
REGISTRY_ONLY = {"registryPassword": PLACEHOLDER_SECRETS["registryPassword"]}
# The prod cluster stack with the External Secrets Operator, as externalSecrets needs it.
CLUSTER_WITH_ESO = {"agentsmcp-cluster:externalSecrets": {"enabled": True}}


def _run(external: dict[str, Any] = EXTERNAL, **secrets: Any) -> ProgramRun:
    config = config_with("prod", externalSecrets=external)
    return run_program(
        "prod",
        config=config,
        secrets={**REGISTRY_ONLY, **secrets},
        cluster_config=CLUSTER_WITH_ESO,
    )


def _pod(run: ProgramRun) -> dict[str, Any]:
    template: dict[str, Any] = one(run, DEPLOYMENT).inputs["spec"]["template"]
    return template


def test_the_store_writes_the_secret_the_pods_mount_as_today() -> None:
    run, default = _run(), run_program("prod")
    spec = one(run, EXTERNAL_SECRET).inputs["spec"]
    assert spec["secretStoreRef"] == {"name": "vault-backend", "kind": "ClusterSecretStore"}
    assert spec["target"]["name"] == "agentsmcp-secrets"
    assert spec["target"]["creationPolicy"] == "Owner"
    assert spec["refreshInterval"] == "1h"
    assert spec["data"][0] == {
        "secretKey": "ANTHROPIC_API_KEY",
        "remoteRef": {"key": "agentsmcp/prod", "property": "anthropic_api_key"},
    }
    assert "dataFrom" not in spec
    # No Secret of the stack's own values; the pull Secret stays.
    names = [r.inputs["metadata"]["name"] for r in run.of_type(SECRET)]
    assert names == ["agentsmcp-registry"]
    # The same volume, mount and environment as with stack secrets: files, re-read on rotation.
    assert _pod(run)["spec"] == _pod(default)["spec"]
    # Pulumi never sees the values: no revision to roll on (ESO rewrites the Secret in place).
    assert "annotations" not in _pod(run)["metadata"]


def test_data_from_extracts_whole_store_keys() -> None:
    spec = one(
        _run(
            {
                "enabled": True,
                "store": {"name": "aws", "kind": "SecretStore"},
                "dataFrom": ["agentsmcp/prod"],
            }
        ),
        EXTERNAL_SECRET,
    ).inputs["spec"]
    assert spec["dataFrom"] == [{"extract": {"key": "agentsmcp/prod"}}]
    assert spec["secretStoreRef"]["kind"] == "SecretStore"
    assert "data" not in spec


def test_stack_secrets_stay_the_default() -> None:
    run = run_program("prod")
    assert run.of_type(EXTERNAL_SECRET) == []
    assert "agentsmcp-secrets" in [r.inputs["metadata"]["name"] for r in run.of_type(SECRET)]


def _external(**changes: Any) -> dict[str, Any]:
    config = raw("prod")
    config["externalSecrets"] = {**EXTERNAL, **changes}
    return config


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"store": None}, "externalSecrets.store"),
        ({"data": {}}, "externalSecrets.data"),
        ({"data": {**DATA, "OPENAI_KEY": {"key": "x"}}}, "externalSecrets.data.OPENAI_KEY"),
        (
            {"data": {k: v for k, v in DATA.items() if k != "OPENAI_API_KEY"}},
            "externalSecrets.data.OPENAI_API_KEY",
        ),
        ({"store": {"name": "Vault_Backend"}}, "externalSecrets.store.name"),
        ({"store": {"name": "v", "kind": "VaultStore"}}, "externalSecrets.store.kind"),
        ({"refreshInterval": "hourly"}, "externalSecrets.refreshInterval"),
    ],
)
def test_mistakes_name_the_key(changes: dict[str, Any], key: str) -> None:
    assert "\n" not in assert_names(_external(**changes), key)


def test_valkey_keeps_its_password_in_the_stack_and_is_refused() -> None:
    config = _external()
    config["limitsStore"] = {"mode": "valkey"}
    config["serverConfig"] = {**config["serverConfig"], "rate_limit": {"backend": "redis"}}
    assert_names(config, "externalSecrets.enabled")


def test_a_stack_secret_set_as_well_is_an_error_naming_it() -> None:
    config = config_with("prod", externalSecrets=EXTERNAL)
    with pytest.raises(
        pulumi.RunError, match=r"agentsmcp:openaiApiKey: externalSecrets\.enabled takes"
    ):
        run_program("prod", config=config, secrets={**REGISTRY_ONLY, "openaiApiKey": "sk-x"})
