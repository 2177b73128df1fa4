"""Stack config validation: every bad value stops the program with a message naming its key."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config import (
    MOVED_KEYS,
    SECRET_KEYS,
    NetworkPolicySettings,
    StackConfig,
    StackConfigError,
    oidc_egress_problems,
    parse_stack_config,
)
from components.stack_file import stack_config
from tests.components.conftest import STACKS

HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_HOST = re.compile(
    r"^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)


def raw(stack: str) -> dict[str, Any]:
    """The stack file as the program sees it: keys without prefix, secrets excluded."""
    return {
        key.removeprefix("agentsmcp:"): value
        for key, value in stack_config(stack).items()
        if key.startswith("agentsmcp:") and key.removeprefix("agentsmcp:") not in SECRET_KEYS
    }


def with_value(stack: str, path: str, value: Any) -> dict[str, Any]:
    return _set(raw(stack), path, value)


def _set(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = config
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, dict) else {}
        node = node[part]
    node[parts[-1]] = value
    return config


def problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(config)
    lines = caught.value.problems
    assert lines
    for line in lines:
        key, sep, message = line.partition(": ")
        assert sep, line
        assert key.startswith("agentsmcp:"), line
        assert message.strip(), line
        assert "Traceback" not in message
    return lines


def assert_names(config: dict[str, Any], key: str) -> str:
    lines = problems(config)
    matching = [line for line in lines if line.startswith(f"agentsmcp:{key}: ")]
    assert matching, f"no message names agentsmcp:{key}: {lines}"
    return matching[0]


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_are_valid(stack: str) -> None:
    config = parse_stack_config(raw(stack))
    assert isinstance(config, StackConfig)
    assert config.namespace == f"agentsmcp-{stack}"
    assert config.app.auth.enabled is True


@pytest.mark.parametrize("stack", STACKS)
def test_grace_period_covers_pre_stop_drain_and_shutdown(stack: str) -> None:
    config = parse_stack_config(raw(stack))
    assert config.grace_seconds > (
        config.pre_stop_seconds + config.drain_seconds + config.shutdown_timeout_seconds
    )


@HYPOTHESIS
@given(data=st.data())
def test_min_greater_than_max(data: st.DataObject) -> None:
    minimum = data.draw(st.integers(2, 1000))
    maximum = data.draw(st.integers(1, minimum - 1))
    config = with_value("staging", "autoscaling.minReplicas", minimum)
    config["autoscaling"]["maxReplicas"] = maximum
    message = assert_names(config, "autoscaling.maxReplicas")
    assert str(minimum) in message


@HYPOTHESIS
@given(target=st.one_of(st.integers(max_value=0), st.integers(min_value=101)))
def test_cpu_target_outside_1_to_100(target: int) -> None:
    assert_names(
        with_value("prod", "autoscaling.cpuUtilization", target), "autoscaling.cpuUtilization"
    )


@HYPOTHESIS
@given(value=st.text(max_size=30).filter(lambda text: not _QUANTITY.match(text)))
def test_invalid_quantity(value: str) -> None:
    message = assert_names(
        with_value("dev", "resources.requests.cpu", value), "resources.requests.cpu"
    )
    assert "quantity" in message


def test_quantity_with_unknown_suffix() -> None:
    message = assert_names(
        with_value("dev", "resources.limits.memory", "500x"), "resources.limits.memory"
    )
    assert "'500x' is not a Kubernetes quantity" in message


@HYPOTHESIS
@given(host=st.text(min_size=1, max_size=80).filter(lambda text: not _HOST.match(text)))
def test_invalid_host(host: str) -> None:
    assert_names(with_value("staging", "exposure.host", host), "exposure.host")


@HYPOTHESIS
@given(mode=st.sampled_from(["Auto", "Recreate", "InPlaceOrRecreate"]))
def test_vpa_that_acts_fights_the_hpa(mode: str) -> None:
    config = with_value("prod", "vpa.updateMode", mode)
    message = assert_names(config, "vpa.updateMode")
    assert "HPA" in message


@pytest.mark.parametrize("mode", ["Off", "Initial"])
def test_vpa_recommendations_with_hpa_are_fine(mode: str) -> None:
    parse_stack_config(with_value("prod", "vpa.updateMode", mode))


def test_vpa_auto_without_resource_hpa_is_fine() -> None:
    config = with_value("dev", "vpa", {"enabled": True, "updateMode": "Auto"})
    assert parse_stack_config(config).vpa.update_mode == "Auto"


@HYPOTHESIS
@given(exposure=st.sampled_from(["no-tls", "no-exposure"]))
def test_production_without_tls(exposure: str) -> None:
    if exposure == "no-tls":
        config = with_value("prod", "exposure.tls", {"enabled": False})
    else:
        config = with_value("prod", "exposure", {"mode": "none"})
    assert_names(config, "exposure.tls.enabled")


_KNOWN = (
    {field.alias for field in StackConfig.model_fields.values()}
    | set(SECRET_KEYS)
    | {path[0] for path in MOVED_KEYS}
)


@HYPOTHESIS
@given(
    key=st.from_regex(r"[a-z][A-Za-z0-9]{0,20}", fullmatch=True).filter(lambda k: k not in _KNOWN)
)
def test_unknown_top_level_key(key: str) -> None:
    config = raw("dev")
    config[key] = "x"
    message = assert_names(config, key)
    assert message.endswith("unknown key")


@HYPOTHESIS
@given(key=st.from_regex(r"[a-z][A-Za-z0-9]{0,20}", fullmatch=True))
def test_unknown_nested_key(key: str) -> None:
    config = with_value("dev", f"autoscaling.{key}", 1)
    if key in {
        f.alias for f in StackConfig.model_fields["autoscaling"].annotation.model_fields.values()
    }:  # type: ignore[union-attr]
        return
    assert_names(config, f"autoscaling.{key}")


@HYPOTHESIS
@given(tokens=st.one_of(st.integers(max_value=0), st.text(alphabet="abc", min_size=1, max_size=5)))
def test_server_config_is_checked_by_the_servers_model(tokens: Any) -> None:
    config = with_value("dev", "serverConfig.agents.coding.max_tokens", tokens)
    assert_names(config, "serverConfig.agents.coding.max_tokens")


def test_server_config_error_is_one_line_with_the_full_key_path() -> None:
    config = with_value("dev", "serverConfig.agents.coding.max_tokens", 2_000_000)
    assert problems(config) == [
        "agentsmcp:serverConfig.agents.coding.max_tokens: "
        "Input should be less than or equal to 1000000"
    ]


def test_server_config_unknown_key_is_named_in_the_servers_names() -> None:
    config = with_value("dev", "serverConfig.rate_limit.requests_per_hour", 5)
    line = assert_names(config, "serverConfig.rate_limit.requests_per_hour")
    assert line.endswith("unknown key")


def test_server_config_camel_case_keys_are_unknown() -> None:
    config = with_value("dev", "serverConfig.rate_limit.requestsPerMinute", 5)
    assert assert_names(config, "serverConfig.rate_limit.requestsPerMinute").endswith("unknown key")


def test_anthropic_agent_temperature_is_named_by_its_full_path() -> None:
    config = with_value("prod", "serverConfig.agents.coding-claude.temperature", 0.2)
    line = assert_names(config, "serverConfig.agents.coding-claude.temperature")
    assert "2026-10-21" in line


def test_max_inflight_runs_is_checked_by_the_servers_model() -> None:
    assert_names(
        with_value("prod", "serverConfig.server.max_inflight_runs", 0),
        "serverConfig.server.max_inflight_runs",
    )


def test_server_host_is_owned_by_the_deployment() -> None:
    assert_names(
        with_value("dev", "serverConfig.server.host", "127.0.0.1"), "serverConfig.server.host"
    )


def test_server_environment_is_the_stacks() -> None:
    line = assert_names(
        with_value("dev", "serverConfig.environment", "production"), "serverConfig.environment"
    )
    assert "agentsmcp:environment" in line


@pytest.mark.parametrize("field", ["jwt_secret_key", "openai_api_key", "redis_url"])
def test_secrets_are_not_server_config(field: str) -> None:
    line = assert_names(
        with_value("prod", f"serverConfig.{field}", "s3cret"), f"serverConfig.{field}"
    )
    assert "pulumi config set --secret" in line
    assert "s3cret" not in line


@pytest.mark.parametrize(("old", "new"), sorted(MOVED_KEYS.items()))
def test_keys_from_before_server_config_say_where_they_went(old: tuple[str, ...], new: str) -> None:
    config = raw("dev")
    _set(config, ".".join(old), {"port": 8000} if len(old) == 1 else 9090)
    line = assert_names(config, ".".join(old))
    assert line.startswith(f"agentsmcp:{'.'.join(old)}: unknown key")
    assert f"agentsmcp:serverConfig.{new}" in line


def test_deployment_facts_come_from_the_servers_model() -> None:
    config = with_value("staging", "serverConfig.server.drain_seconds", 40)
    config = _set(config, "serverConfig.metrics", {"port": 9100})
    config = _set(config, "serverConfig.agents.coding.timeout", 300)
    loaded = parse_stack_config(config)
    assert loaded.drain_seconds == 40
    assert loaded.metrics_port == 9100
    # coding's 300 s, then its fallback coding-claude's 60 s.
    assert loaded.longest_agent_request_seconds == 360
    assert loaded.grace_seconds == 5 + 40 + 25 + 5
    assert loaded.app.server.host == "0.0.0.0"


def test_logging_reaches_the_pods_as_the_servers_env_overrides() -> None:
    config = with_value("prod", "serverConfig.logging", {"level": "WARNING", "format": "text"})
    loaded = parse_stack_config(config)
    assert loaded.server_env == {
        "AGENTSMCP_ENVIRONMENT": "production",
        "AGENTSMCP_LOG_LEVEL": "WARNING",
        "AGENTSMCP_LOG_FORMAT": "text",
    }
    assert "logging" not in loaded.server_file
    assert loaded.server_file["agents"] == config["serverConfig"]["agents"]
    # Unset: the server's defaults, as before.
    del config["serverConfig"]["logging"]
    defaults = parse_stack_config(config).server_env
    assert (defaults["AGENTSMCP_LOG_LEVEL"], defaults["AGENTSMCP_LOG_FORMAT"]) == ("INFO", "json")
    bad = with_value("prod", "serverConfig.logging.level", "LOUD")
    assert_names(bad, "serverConfig.logging.level")


def test_metrics_cannot_be_turned_off_while_monitored() -> None:
    config = with_value("staging", "serverConfig.metrics", {"enabled": False})
    assert_names(config, "serverConfig.metrics.enabled")
    config["monitoring"] = {"enabled": False}
    assert parse_stack_config(config).app.metrics.enabled is False


def test_image_ref_must_be_digest_pinned() -> None:
    config = with_value("dev", "image", {"ref": "ghcr.io/agentsmcp/agentsmcp:latest"})
    assert "digest-pinned" in assert_names(config, "image.ref")


def test_pdb_that_blocks_every_eviction() -> None:
    assert_names(with_value("staging", "pdb.minAvailable", 2), "pdb.minAvailable")


def test_grace_period_too_short() -> None:
    config = with_value("prod", "terminationGracePeriodSeconds", 10)
    assert_names(config, "terminationGracePeriodSeconds")


@HYPOTHESIS
@given(cidr=st.sampled_from(["10.0.0.1/8", "300.0.0.0/8", "nope", "10.0.0.0/33"]))
def test_invalid_private_cidr(cidr: str) -> None:
    config = with_value("dev", "networkPolicy.privateCidrs", [cidr])
    assert_names(config, "networkPolicy.privateCidrs.0")


def test_gateway_mode_needs_a_gateway() -> None:
    config = with_value("prod", "exposure.mode", "gateway")
    del config["cluster"]
    assert_names(config, "exposure.gateway")


def test_cluster_addons_are_not_app_stack_keys() -> None:
    config = with_value("dev", "addons.certManager", {"enabled": True})
    assert_names(config, "addons")


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (
            "networkPolicy.extraEgress",
            [{"namespace": "llm", "cidrs": ["10.0.0.0/8"], "ports": [{"port": 80}]}],
            "networkPolicy.extraEgress.0.cidrs",
        ),
        ("networkPolicy.extraEgress", [{"namespace": "llm"}], "networkPolicy.extraEgress.0.ports"),
        (
            "networkPolicy.extraEgress",
            [{"ports": [{"port": 80}]}],
            "networkPolicy.extraEgress.0.cidrs",
        ),
        (
            "networkPolicy.extraEgress",
            [{"cidrs": ["10.0.0.0/8"], "ports": [{"port": 90, "endPort": 80}]}],
            "networkPolicy.extraEgress.0.ports.0.endPort",
        ),
        (
            "networkPolicy.extraEgress",
            [{"cidrs": ["10.0.0.0/33"], "ports": [{"port": 80}]}],
            "networkPolicy.extraEgress.0.cidrs.0",
        ),
        (
            "networkPolicy.ingressSources",
            [{"podLabels": {"bad key!": "x"}}],
            "networkPolicy.ingressSources.0.podLabels",
        ),
        ("networkPolicy.ingressSources", [], "networkPolicy.ingressSources"),
        ("networkPolicy.dns.cidrs", ["169.254.20.10/16"], "networkPolicy.dns.cidrs.0"),
        ("networkPolicy.dnsNamespace", "kube-system", "networkPolicy.dnsNamespace"),
        ("serverConfig.metrics.port", 8000, "serverConfig.metrics.port"),
        ("serverConfig.metrics.port", 80, "serverConfig.metrics.port"),
        ("cluster.stack", "local", "cluster.stack"),
        ("image.platform", "linux/s390x", "image.platform"),
    ],
)
def test_network_and_cluster_mistakes_name_the_key(path: str, value: Any, key: str) -> None:
    assert_names(with_value("dev", path, value), key)


def test_every_problem_is_reported_at_once() -> None:
    config = with_value("staging", "autoscaling.cpuUtilization", 0)
    config["exposure"] = {**config["exposure"], "host": "Not A Host"}
    config["bogus"] = True
    keys = {line.split(": ", 1)[0] for line in problems(config)}
    assert {
        "agentsmcp:autoscaling.cpuUtilization",
        "agentsmcp:exposure.host",
        "agentsmcp:bogus",
    } <= keys


_JUNK = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=8), children, max_size=3),
    ),
    max_leaves=6,
)
_PATHS = [
    "replicas",
    "namespace",
    "image",
    "image.platform",
    "resources.limits",
    "autoscaling.minReplicas",
    "autoscaling.scaleDown",
    "vpa.updateMode",
    "pdb.minAvailable",
    "exposure",
    "exposure.tls.secretName",
    "exposure.annotations",
    "networkPolicy.privateCidrs",
    "monitoring.alerts.errorRatio",
    "addons.metricsServer",
    "preStopSeconds",
    "terminationGracePeriodSeconds",
    "serverConfig",
    "serverConfig.server",
    "serverConfig.server.drain_seconds",
    "serverConfig.server.shutdown_timeout_seconds",
    "serverConfig.server.port",
    "serverConfig.auth",
    "serverConfig.rate_limit.burst",
    "serverConfig.metrics",
    "serverConfig.agents",
    "serverConfig.agents.coding",
    "serverConfig.agents.coding.fallback",
    "serverConfig.providers.openai",
    "serverConfig.environment",
    "serverConfig.jwt_secret_key",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stack=st.sampled_from(STACKS),
    changes=st.lists(st.tuples(st.sampled_from(_PATHS), _JUNK), min_size=1, max_size=3),
    grace=st.one_of(st.none(), st.integers(1, 3600)),
)
def test_any_values_anywhere_are_accepted_or_named_never_a_crash(
    stack: str, changes: list[tuple[str, Any]], grace: int | None
) -> None:
    config = raw(stack)
    for path, value in changes:
        config = _set(config, path, value)
    if grace is not None:
        config["terminationGracePeriodSeconds"] = grace
    try:
        parse_stack_config(config)
    except StackConfigError as exc:
        for line in exc.problems:
            key, sep, message = line.partition(": ")
            assert sep, line
            assert key.startswith("agentsmcp:"), line
            assert message.strip(), line


def test_reads_config_the_way_the_cli_passes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import pulumi.runtime

    from components.config import read_raw_config
    from tools.render_manifests import _wire_value

    wire = {key: _wire_value(value) for key, value in stack_config("prod").items()}
    wire["agentsmcp:jwtSecretKey"] = "not-read-here"
    wire["kubernetes:context"] = "other-namespace"
    pulumi.runtime.set_all_config({})
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(wire))
    from_cli = read_raw_config()
    assert set(from_cli) == set(raw("prod"))
    assert from_cli["topologySpread"] == "true"  # scalars arrive as text
    assert parse_stack_config(from_cli) == parse_stack_config(raw("prod"))
    assert parse_stack_config(from_cli).autoscaling.max_replicas == 50


def test_oidc_auth_keys_reach_the_server_config() -> None:
    config = with_value(
        "prod",
        "serverConfig.auth.oidc",
        {
            "issuer": "https://idp.example.com",
            "audience": "https://agents.example.com/mcp",
            "required_scopes": ["agents:invoke"],
            "jwks_max_stale_seconds": 600,
        },
    )
    config = _set(config, "serverConfig.auth.oauth_discovery", {"enabled": True})
    oidc = parse_stack_config(config).app.auth.oidc
    assert oidc is not None
    assert oidc.required_scopes == ["agents:invoke"]
    assert oidc.jwks_max_stale_seconds == 600
    assert parse_stack_config(config).app.auth.oauth_discovery.enabled is True


def test_oauth_discovery_problem_is_named_by_its_stack_key() -> None:
    config = with_value("prod", "serverConfig.auth.oauth_discovery", {"enabled": True})
    assert "needs auth.oidc" in assert_names(config, "serverConfig.auth.oauth_discovery.enabled")


@pytest.mark.parametrize(
    ("url", "policy", "problem"),
    [
        ("https://idp.example.com", {}, None),
        ("https://login.example.com/realms/a/protocol/openid-connect/certs", {}, None),
        ("https://203.0.113.7/jwks", {}, None),
        ("https://idp.example.com:8443", {}, "port 8443 is not in networkPolicy.upstreamPorts"),
        (
            "https://idp.example.com:8443",
            {"upstreamPorts": [{"port": 443}, {"port": 8000, "endPort": 9000}]},
            None,
        ),
        ("https://10.1.2.3", {}, "10.1.2.3 is not a public address"),
        ("https://keycloak.auth.svc:8443", {}, "keycloak.auth.svc is not a public address"),
        ("https://keycloak.auth.svc.cluster.local", {}, "not a public address"),
        ("http://localhost:8080", {}, "localhost is not a public address"),
        ("https://keycloak", {}, "keycloak is not a public address"),
        (
            "https://keycloak.auth.svc:8443",
            {"extraEgress": [{"namespace": "auth", "ports": [{"port": 8443}]}]},
            None,
        ),
        (
            "https://keycloak.auth.svc:8443",
            {"extraEgress": [{"namespace": "auth", "ports": [{"port": 8080}]}]},
            "not a public address",
        ),
    ],
)
def test_egress_rules_say_whether_a_url_is_reachable(
    url: str, policy: dict[str, Any], problem: str | None
) -> None:
    found = NetworkPolicySettings.model_validate(policy).egress_problem(url)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_the_openid_providers_urls_must_be_reachable() -> None:
    """auth.oidc comes with the MCP server's config (another branch); its issuer and jwks_uri
    are read from the validated server config, here stood in for by an object of that shape."""
    config = parse_stack_config(raw("prod"))
    assert oidc_egress_problems(config) == []
    oidc = SimpleNamespace(
        issuer="https://keycloak.auth.svc:8443/realms/agents",
        jwks_uri="https://keys.example.com/jwks",
    )
    config._app = config.app.model_copy(update={"auth": SimpleNamespace(oidc=oidc)})
    assert oidc_egress_problems(config) == [
        "agentsmcp:serverConfig.auth.oidc.issuer: the pods could not reach "
        "https://keycloak.auth.svc:8443/realms/agents: keycloak.auth.svc is not a public "
        "address; add a networkPolicy.extraEgress rule for it (its namespace and pod labels, "
        "or its CIDRs) with port 8443"
    ]
    config._app = config.app.model_copy(update={"auth": SimpleNamespace(oidc=None)})
    assert oidc_egress_problems(config) == []


def test_the_agent_cards_base_url_is_the_stacks_https_host() -> None:
    loaded = parse_stack_config(raw("prod"))
    assert loaded.server_file["a2a"] == {"public_base_url": "https://agentsmcp.example.com"}
    # Set in serverConfig: kept as given.
    given = with_value("prod", "serverConfig.a2a", {"public_base_url": "https://a.example.com"})
    assert parse_stack_config(given).server_file["a2a"]["public_base_url"] == (
        "https://a.example.com"
    )
    # Without TLS the origin of each card request is used (the pod cannot know the scheme).
    assert "a2a" not in parse_stack_config(raw("dev")).server_file
