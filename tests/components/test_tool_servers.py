"""Tool servers in the deployment: their bearer tokens as files of the app's Secret (read by the
server's own config loader), their egress rules, and one-line errors for what cannot work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from app.config import load_config
from tests.components.conftest import config_with, server_config, server_config_map
from tools.render_manifests import (
    PLACEHOLDER_SECRETS,
    ProgramRun,
    placeholder_tool_server_tokens,
    run_program,
)

SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
TOOL_SERVERS = {
    "web-search": {"url": "http://search.tools.svc.cluster.local:8080/mcp", "auth": "bearer"},
    "calc": {"url": "http://calc:9000/mcp"},
    "public": {"url": "https://tools.example.com/mcp", "auth": "bearer"},
}


def tools_config(stack: str = "dev", servers: dict[str, Any] | None = None) -> dict[str, Any]:
    servers = TOOL_SERVERS if servers is None else servers
    base = server_config(stack)
    agents = {
        **base["agents"],
        "researcher": {
            "type": "tools",
            "provider": "openai",
            "model": "gpt-4o",
            "tool_servers": sorted(servers),
        },
    }
    return config_with(
        stack, serverConfig=server_config(stack, tool_servers=servers, agents=agents)
    )


def _named(run: ProgramRun, type_token: str, name: str) -> dict[str, Any]:
    for reg in run.of_type(type_token):
        if reg.inputs["metadata"]["name"] == name:
            return reg.inputs
    raise AssertionError(f"no {type_token} named {name}")


def test_bearer_tokens_are_files_the_server_reads(tmp_path: Path) -> None:
    config = tools_config()
    run = run_program("dev", config=config)
    values = _named(run, SECRET, "agentsmcp-secrets")["stringData"]["value"]
    tokens = placeholder_tool_server_tokens(config)
    assert set(tokens) == {"web-search", "public"}
    # The server's own name for the secret (app.config.tool_server_token_env): - becomes _.
    assert values["TOOL_SERVER_WEB_SEARCH_TOKEN"] == tokens["web-search"]
    assert values["TOOL_SERVER_PUBLIC_TOKEN"] == tokens["public"]
    assert not any("CALC" in key for key in values)
    container = _named(run, DEPLOYMENT, "agentsmcp")["spec"]["template"]["spec"]["containers"][0]
    assert not any(item["name"].startswith("TOOL_SERVER") for item in container["env"])
    text = server_config_map(run).inputs["data"]["config.yaml"]
    assert all(token not in text for token in tokens.values())
    # What the kubelet writes into the secrets volume, read by the server's loader.
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for key, value in values.items():
        (secrets_dir / key).write_text(value, encoding="utf-8")
    environ = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    environ |= {"AGENTSMCP_CONFIG": str(tmp_path / "config.yaml")}
    environ |= {"AGENTSMCP_SECRETS_DIR": str(secrets_dir)}
    loaded = load_config(environ)
    assert loaded.tool_server_token("web-search") == tokens["web-search"]
    assert loaded.tool_server_token("public") == tokens["public"]
    assert loaded.tool_server_token("calc") is None


def test_in_cluster_tool_servers_get_an_egress_rule_per_namespace() -> None:
    run = run_program("dev", config=tools_config())
    egress = _named(run, NETWORK_POLICY, "agentsmcp")["spec"]["egress"]
    assert egress[-2:] == [
        {
            "to": [{"namespaceSelector": {"matchLabels": {NS: "agentsmcp-dev"}}}],
            "ports": [{"port": 9000, "protocol": "TCP"}],
        },
        {
            "to": [{"namespaceSelector": {"matchLabels": {NS: "tools"}}}],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        },
    ]
    # The public one rides on networkPolicy.upstreamPorts (443): no rule of its own.
    assert len(egress) == 4


NS = "kubernetes.io/metadata.name"


@pytest.mark.parametrize(
    ("servers", "tokens", "expected"),
    [
        (
            TOOL_SERVERS,
            {"web-search": "t"},
            "agentsmcp:toolServerTokens.public: required because "
            "serverConfig.tool_servers.public.auth is bearer; set it with "
            "`pulumi config set --secret --path 'toolServerTokens.public' <token>`",
        ),
        (
            TOOL_SERVERS,
            {"web-search": "t", "public": "t", "calc": "t"},
            "agentsmcp:toolServerTokens.calc: no tool server 'calc' with auth bearer",
        ),
        (
            TOOL_SERVERS,
            "not json",
            "agentsmcp:toolServerTokens: must be an object of non-empty strings",
        ),
        (
            {"ext": {"url": "https://tools.example.com:8443/mcp"}},
            None,
            "agentsmcp:serverConfig.tool_servers.ext.url: the pods could not reach "
            "https://tools.example.com:8443/mcp: port 8443 is not in "
            "networkPolicy.upstreamPorts (443)",
        ),
        (
            {"lan": {"url": "http://10.1.2.3:8080/mcp"}},
            None,
            "agentsmcp:serverConfig.tool_servers.lan.url: the pods could not reach "
            "http://10.1.2.3:8080/mcp: 10.1.2.3 is not a public address; add a "
            "networkPolicy.extraEgress rule",
        ),
    ],
)
def test_what_cannot_work_is_one_line_naming_the_key(
    servers: dict[str, Any], tokens: Any, expected: str
) -> None:
    secrets: dict[str, Any] = dict(PLACEHOLDER_SECRETS)
    if tokens is not None:
        secrets["toolServerTokens"] = tokens
    with pytest.raises(pulumi.RunError) as caught:
        run_program("dev", config=tools_config(servers=servers), secrets=secrets)
    assert expected in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_extra_egress_admits_a_private_tool_server() -> None:
    policy = {"extraEgress": [{"cidrs": ["10.1.2.0/24"], "ports": [{"port": 8080}]}]}
    config = tools_config(servers={"lan": {"url": "http://10.1.2.3:8080/mcp"}})
    config["agentsmcp:networkPolicy"] = policy
    run = run_program("dev", config=config)
    egress = _named(run, NETWORK_POLICY, "agentsmcp")["spec"]["egress"]
    assert egress[-1]["to"] == [{"ipBlock": {"cidr": "10.1.2.0/24"}}]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://search.tools.svc:8080/mcp", ("tools", 8080)),
        ("http://search.tools.svc.cluster.local/mcp", ("tools", 80)),
        ("https://search.tools.svc/mcp", ("tools", 443)),
        ("http://calc:9000/mcp", ("agentsmcp-dev", 9000)),
        # Not told apart from a public name: under the public rules, not a namespace rule.
        ("http://search.tools:8080/mcp", (None, 8080)),
        ("https://tools.example.com/mcp", (None, 443)),
        ("http://10.1.2.3:8080/mcp", (None, 8080)),
        ("http://a.b.c.svc:8080/mcp", (None, 8080)),
    ],
)
def test_which_urls_name_a_service(url: str, expected: tuple[str | None, int]) -> None:
    from components.config._stack import _service_namespace

    assert _service_namespace(url, "agentsmcp-dev") == expected


def test_a_service_form_the_rules_cannot_place_is_refused() -> None:
    config = tools_config(servers={"odd": {"url": "http://a.b.c.svc:8080/mcp"}})
    with pytest.raises(pulumi.RunError, match=r"tool_servers\.odd\.url: .* not a public address"):
        run_program("dev", config=config)


def test_tokens_appear_in_no_rendered_document() -> None:
    from tools.render_manifests import REDACTED, render_documents

    config = tools_config()
    documents = render_documents(run_program("dev", config=config))
    for token in placeholder_tool_server_tokens(config).values():
        assert not any(token in text for text in documents.values())
    secret = documents["secret-agentsmcp-dev-agentsmcp-secrets.yaml"]
    assert f"TOOL_SERVER_WEB_SEARCH_TOKEN: {REDACTED}" in secret
