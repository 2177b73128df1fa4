"""The real Pulumi program under mocks, per stack: resources, security, wiring, secrets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import ENV_VARS, load_config, parse_config
from tests.components.conftest import (
    config_with,
    ingress_tls_staging_config,
    one,
    server_config,
    server_config_map,
)
from tools.render_manifests import (
    PLACEHOLDER_SECRETS,
    PROVIDER_TYPE,
    SECRET_SIG,
    SIG_KEY,
    STACK_REFERENCE,
    ProgramRun,
    _RecordingMocks,
    run_program,
    stack_config,
)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
VPA = "kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"

COMMON = {
    "kubernetes:core/v1:Namespace": 1,
    "kubernetes:core/v1:ResourceQuota": 1,
    "kubernetes:core/v1:LimitRange": 1,
    NETWORK_POLICY: 2,
    SECRET: 1,
    CONFIG_MAP: 2,
    "kubernetes:core/v1:ServiceAccount": 1,
    DEPLOYMENT: 1,
    SERVICE: 1,
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": 1,
    "docker:index/image:Image": 1,
    PROVIDER_TYPE: 1,
}
EXPECTED: dict[str, dict[str, int]] = {
    # The API, /mcp and /a2a (both unbuffered, their own timeouts).
    "dev": {**COMMON, INGRESS: 3},
    "staging": {
        **COMMON,
        SECRET: 2,  # and the registry pull Secret
        HTTP_ROUTE: 1,
        HPA: 1,
        "kubernetes:policy/v1:PodDisruptionBudget": 1,
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule": 1,
    },
    "prod": {
        **COMMON,
        SECRET: 2,
        HTTP_ROUTE: 1,
        HPA: 1,
        VPA: 1,
        "kubernetes:policy/v1:PodDisruptionBudget": 1,
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule": 1,
    },
}
COMPONENTS = {
    "agentsmcp:index:NamespaceBaseline",
    "agentsmcp:index:AppImage",
    "agentsmcp:index:AppSecrets",
    "agentsmcp:index:AgentServer",
    "agentsmcp:index:Exposure",
    "agentsmcp:index:Monitoring",
}


def _counts(run: ProgramRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for reg in run.registrations:
        if reg.custom:
            counts[reg.type] = counts.get(reg.type, 0) + 1
    return counts


def _deployment(run: ProgramRun) -> dict[str, Any]:
    return one(run, DEPLOYMENT).inputs


def _container(run: ProgramRun) -> dict[str, Any]:
    containers = _deployment(run)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_full_resource_set_per_stack(run: ProgramRun) -> None:
    assert _counts(run) == EXPECTED[run.stack]
    components = {reg.type for reg in run.registrations if not reg.custom}
    assert components >= COMPONENTS
    assert ("agentsmcp:index:Autoscaling" in components) == (run.stack != "dev")


def test_every_kubernetes_resource_uses_the_explicit_provider(run: ProgramRun) -> None:
    provider = one(run, PROVIDER_TYPE)
    assert provider.inputs["enableServerSideApply"] == "true"
    for reg in run.kubernetes_objects:
        if reg.type == PROVIDER_TYPE:
            continue
        assert reg.provider is not None, reg.name
        assert reg.provider.startswith(f"{provider.urn}::"), (reg.name, reg.provider)
    for release in run.of_type(RELEASE):
        assert release.provider is not None
        assert release.provider.startswith(f"{provider.urn}::")


def test_every_kubernetes_object_has_an_explicit_name(run: ProgramRun) -> None:
    for reg in run.kubernetes_objects:
        if reg.type == PROVIDER_TYPE:
            continue
        metadata = reg.inputs["metadata"]
        assert metadata["name"], reg.name
        if reg.inputs["kind"] not in ("Namespace", "ClusterIssuer"):
            assert metadata["namespace"] == f"agentsmcp-{run.stack}", reg.name


def test_namespace_baseline(run: ProgramRun) -> None:
    labels = one(run, "kubernetes:core/v1:Namespace").inputs["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    policies = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in run.of_type(NETWORK_POLICY)}
    deny = policies["default-deny-all"]
    assert deny["podSelector"] == {}
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    quota = one(run, "kubernetes:core/v1:ResourceQuota").inputs["spec"]["hard"]
    assert set(quota) == {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods"}
    limits = one(run, "kubernetes:core/v1:LimitRange").inputs["spec"]["limits"][0]
    assert limits["type"] == "Container"
    assert {"default", "defaultRequest", "max"} <= set(limits)


def test_pod_and_container_security(run: ProgramRun) -> None:
    pod = _deployment(run)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["runAsGroup"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container(run)
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 1000
    assert security["runAsGroup"] == 1000
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    service_account = one(run, "kubernetes:core/v1:ServiceAccount").inputs
    assert service_account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == service_account["metadata"]["name"]


def _router_paths() -> set[str]:
    from app.server import create_app

    config = parse_config({"jwt_secret_key": "x" * 64})
    app = create_app(config)
    return {
        info["path"] if "path" in info else info.get("formatter", "")
        for info in (resource.get_info() for resource in app.router.resources())
    }


def test_probe_paths_are_routes_of_the_real_server(run: ProgramRun) -> None:
    container = _container(run)
    probes = {
        "startupProbe": "/health",
        "readinessProbe": "/health/ready",
        "livenessProbe": "/health/live",
    }
    routes = _router_paths()
    for probe, path in probes.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
        assert path in routes, f"{probe} {path} is not a server route: {sorted(routes)}"
    assert "/metrics" in routes


def test_env_names_are_what_the_server_reads(run: ProgramRun) -> None:
    env = {item["name"]: item for item in _container(run)["env"]}
    assert set(env) <= ENV_VARS, set(env) - ENV_VARS
    assert env["AGENTSMCP_CONFIG"]["value"] == "/etc/agentsmcp/config.yaml"
    # Secrets arrive as files (CKV_K8S_35), never as env values or secretKeyRefs.
    assert all("valueFrom" not in item for item in env.values())
    assert env["AGENTSMCP_SECRETS_DIR"]["value"] == "/var/run/secrets/agentsmcp"
    spec = _deployment(run)["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["secrets"]["secret"] == {
        "secretName": "agentsmcp-secrets",
        "defaultMode": 0o440,
        "optional": False,
    }
    mounts = {mount["name"]: mount for mount in _container(run)["volumeMounts"]}
    assert mounts["secrets"] == {
        "name": "secrets",
        "mountPath": "/var/run/secrets/agentsmcp",
        "readOnly": True,
    }


def test_config_map_passes_the_servers_own_config_loader(run: ProgramRun, tmp_path: Path) -> None:
    text = server_config_map(run).inputs["data"]["config.yaml"]
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    environ = {item["name"]: item["value"] for item in _container(run)["env"] if "value" in item}
    environ["AGENTSMCP_CONFIG"] = str(path)
    # The Secret's keys as the kubelet writes them into the volume the env points at.
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for key in _app_secret(run)["stringData"]["value"]:
        (secrets_dir / key).write_text(f"{key.lower()}-" + "k" * 64)
    environ["AGENTSMCP_SECRETS_DIR"] = str(secrets_dir)
    loaded = load_config(environ)
    assert loaded.jwt_secret_key is not None
    assert loaded.jwt_secret_key.get_secret_value() == "jwt_secret_key-" + "k" * 64
    assert loaded.provider_key("anthropic") == "anthropic_api_key-" + "k" * 64
    expected_environment = {"dev": "development", "staging": "staging", "prod": "production"}
    assert loaded.environment == expected_environment[run.stack]
    assert loaded.server.host == "0.0.0.0"
    assert loaded.auth.enabled is True
    assert set(loaded.agents) == {"coding", "coding-claude"}
    assert loaded.logging.format == ("text" if run.stack == "dev" else "json")
    for secret in PLACEHOLDER_SECRETS.values():
        assert secret not in text
    port = _container(run)["ports"][0]
    assert port == {"name": "http", "containerPort": loaded.server.port, "protocol": "TCP"}


def test_rollout_and_shutdown(run: ProgramRun) -> None:
    deployment = _deployment(run)
    template = deployment["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    # The config's change is in its ConfigMap's name; the secrets' in their revision.
    assert set(annotations) == {"checksum/secrets"}
    assert re.fullmatch(r"[0-9a-f]{16}", annotations["checksum/secrets"])
    container = _container(run)
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    server = yaml.safe_load(server_config_map(run).inputs["data"]["config.yaml"])["server"]
    grace = template["spec"]["terminationGracePeriodSeconds"]
    assert grace > pre_stop + server["drain_seconds"] + server["shutdown_timeout_seconds"]
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    spread = template["spec"].get("topologySpreadConstraints")
    if run.stack == "prod":
        keys = {c["topologyKey"] for c in spread}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    else:
        assert spread is None
    if run.stack == "dev":
        assert deployment["spec"]["replicas"] == 1
    else:
        assert "replicas" not in deployment["spec"]


def test_services(run: ProgramRun) -> None:
    services = {s.inputs["metadata"]["name"]: s.inputs["spec"] for s in run.of_type(SERVICE)}
    assert list(services) == ["agentsmcp"]
    cluster_ip = services["agentsmcp"]
    assert cluster_ip["type"] == "ClusterIP"
    assert cluster_ip["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
    ]
    selector = _deployment(run)["spec"]["selector"]["matchLabels"]
    assert cluster_ip["selector"] == selector
    template_labels = _deployment(run)["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= template_labels.items()
    ports = {p["name"]: p["containerPort"] for p in _container(run)["ports"]}
    assert ports == {"http": 8000, "metrics": 9090}


def test_service_monitor_selects_exactly_one_service(run: ProgramRun) -> None:
    """Every pod is scraped once: one Service matches the ServiceMonitor with its port."""
    monitor = one(run, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor").inputs["spec"]
    wanted = monitor["selector"]["matchLabels"].items()
    port = monitor["endpoints"][0]["port"]
    selected = [
        s.inputs["metadata"]["name"]
        for s in run.of_type(SERVICE)
        if wanted <= s.inputs["metadata"]["labels"].items()
        and any(p.get("name") == port for p in s.inputs["spec"]["ports"])
    ]
    assert selected == ["agentsmcp"]


def _policy(run: ProgramRun, name: str = "agentsmcp") -> dict[str, Any]:
    return next(
        p.inputs["spec"]
        for p in run.of_type(NETWORK_POLICY)
        if p.inputs["metadata"]["name"] == name
    )


def _namespaces(peers: list[dict[str, Any]]) -> set[str]:
    return {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers}


def test_app_network_policy(run: ProgramRun) -> None:
    policy = _policy(run)
    public, scrape = policy["ingress"]
    expected = {"dev": "ingress-nginx"}.get(run.stack, "envoy-gateway-system")
    assert _namespaces(public["from"]) == {expected}
    assert public["ports"] == [{"port": "http", "protocol": "TCP"}]
    # Prometheus reaches only the metrics port, and the public path never does.
    assert _namespaces(scrape["from"]) == {"monitoring"}
    assert scrape["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    dns, https = policy["egress"]
    assert dns["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}},
        {"ipBlock": {"cidr": "169.254.20.10/32"}},
    ]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}]
    blocks = {peer["ipBlock"]["cidr"]: peer["ipBlock"]["except"] for peer in https["to"]}
    assert "10.0.0.0/8" in blocks["0.0.0.0/0"]
    assert "192.168.0.0/16" in blocks["0.0.0.0/0"]


def test_pdb_per_stack(run: ProgramRun) -> None:
    pdbs = run.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    expected = {"dev": None, "staging": 1, "prod": 2}[run.stack]
    if expected is None:
        assert pdbs == []
    else:
        assert pdbs[0].inputs["spec"]["minAvailable"] == expected


def test_hpa_and_vpa_rules(run: ProgramRun) -> None:
    hpas = run.of_type(HPA)
    if run.stack == "dev":
        assert hpas == []
        assert run.of_type(VPA) == []
        return
    spec = hpas[0].inputs["spec"]
    bounds = {"staging": (2, 10), "prod": (5, 50)}[run.stack]
    assert (spec["minReplicas"], spec["maxReplicas"]) == bounds
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "agentsmcp",
    }
    assert {m["resource"]["name"] for m in spec["metrics"]} == {"cpu", "memory"}
    assert set(spec["behavior"]) == {"scaleUp", "scaleDown"}
    vpas = run.of_type(VPA)
    if run.stack == "prod":
        assert vpas[0].inputs["spec"]["updatePolicy"]["updateMode"] in ("Off", "Initial")
    else:
        assert vpas == []


def _ingress(run: ProgramRun, name: str = "agentsmcp") -> dict[str, Any]:
    (ingress,) = [r.inputs for r in run.of_type(INGRESS) if r.inputs["metadata"]["name"] == name]
    return ingress


def test_exposure_and_tls(run: ProgramRun) -> None:
    if run.stack == "dev":
        ingress = _ingress(run)
        annotations = ingress["metadata"].get("annotations", {})
        assert "cert-manager.io/cluster-issuer" not in annotations
        assert ingress["spec"]["ingressClassName"] == "nginx"
        # Streaming agent runs must not be buffered or cut at ingress-nginx's default 60 s.
        assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
        assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 120
        assert "tls" not in ingress["spec"]
        paths = ingress["spec"]["rules"][0]["http"]["paths"]
        assert [(p["path"], p["pathType"]) for p in paths] == [
            ("/v1", "Prefix"),
            ("/health", "Exact"),
            ("/.well-known/oauth-protected-resource", "Exact"),
            ("/.well-known/oauth-protected-resource/mcp", "Exact"),
        ]
        for path in paths:
            assert path["backend"]["service"] == {"name": "agentsmcp", "port": {"number": 80}}
        mcp = _ingress(run, "agentsmcp-mcp")
        assert mcp["spec"]["ingressClassName"] == "nginx"
        (rule,) = mcp["spec"]["rules"]
        assert rule["host"] == ingress["spec"]["rules"][0]["host"]
        # Exactly /mcp: ingress-nginx makes it "location = /mcp", so no redirect to /mcp/.
        ((path),) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == ("/mcp", "Exact")
        assert path["backend"]["service"] == {"name": "agentsmcp", "port": {"number": 80}}
        a2a = _ingress(run, "agentsmcp-a2a")
        assert a2a["metadata"]["annotations"] == mcp["metadata"]["annotations"]
        assert [(p["path"], p["pathType"]) for p in a2a["spec"]["rules"][0]["http"]["paths"]] == [
            ("/a2a", "Prefix"),
            ("/.well-known/agent-card.json", "Exact"),
            ("/.well-known/agent.json", "Exact"),
        ]
        return
    route = one(run, HTTP_ROUTE).inputs["spec"]
    host = {"staging": "agentsmcp.staging.example.com", "prod": "agentsmcp.example.com"}
    assert route["hostnames"] == [host[run.stack]]
    # The cluster stack's Gateway, its HTTPS listener for this host.
    assert route["parentRefs"] == [
        {"name": "public", "namespace": "gateway", "sectionName": f"https-{host[run.stack]}"}
    ]
    rule, mcp, a2a = route["rules"]
    assert rule["backendRefs"] == [{"name": "agentsmcp", "port": 80}]
    assert rule["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/v1"}},
        {"path": {"type": "Exact", "value": "/health"}},
        {"path": {"type": "Exact", "value": "/.well-known/oauth-protected-resource"}},
        {"path": {"type": "Exact", "value": "/.well-known/oauth-protected-resource/mcp"}},
    ]
    assert mcp["backendRefs"] == [{"name": "agentsmcp", "port": 80}]
    assert mcp["matches"] == [{"path": {"type": "Exact", "value": "/mcp"}}]
    assert mcp["timeouts"] == rule["timeouts"]
    assert a2a["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/a2a"}},
        {"path": {"type": "Exact", "value": "/.well-known/agent-card.json"}},
        {"path": {"type": "Exact", "value": "/.well-known/agent.json"}},
    ]
    assert a2a["timeouts"] == rule["timeouts"]


def _slow_agents() -> dict[str, Any]:
    return {
        "slow": {"provider": "openai", "model": "gpt-4o", "timeout": 120, "fallback": "backup"},
        "backup": {"provider": "openai", "model": "gpt-4o-mini", "timeout": 90.5},
        "quick": {"provider": "openai", "model": "gpt-4o-mini", "timeout": 5},
    }


def test_mcp_ingress_is_unbuffered_with_timeouts_from_the_agents() -> None:
    """SSE progress must reach the host at once, and neither a long answer nor a stream may be
    cut at ingress-nginx's 60 s default."""
    agents = _slow_agents()
    agents["slow"] = {**agents["slow"], "timeout": 320}
    config = config_with("dev", serverConfig=server_config("dev", agents=agents))
    annotations = _ingress(run_program("dev", config=config), "agentsmcp-mcp")["metadata"][
        "annotations"
    ]
    nginx = "nginx.ingress.kubernetes.io/"
    assert annotations[f"{nginx}proxy-buffering"] == "off"
    # slow's 320 s, then its fallback's 90.5 s (rounded up), plus the 10 s margin.
    assert annotations[f"{nginx}proxy-read-timeout"] == "421"
    assert annotations[f"{nginx}proxy-send-timeout"] == "421"
    # Other annotations of exposure.annotations apply to both Ingresses.
    assert annotations[f"{nginx}proxy-body-size"] == "1m"
    # dev's own 300 s for every path is longer than the derived 130 s: it stays.
    default = _ingress(run_program("dev"), "agentsmcp-mcp")["metadata"]["annotations"]
    assert default[f"{nginx}proxy-read-timeout"] == "300"


def test_mcp_ingress_shares_the_tls_host_but_not_the_certificate_owner() -> None:
    run = run_program("staging", config=ingress_tls_staging_config())
    main, mcp = _ingress(run), _ingress(run, "agentsmcp-mcp")
    assert mcp["spec"]["tls"] == main["spec"]["tls"]
    # One Ingress asks cert-manager for the certificate; two would fight over its Secret.
    assert "cert-manager.io/cluster-issuer" in main["metadata"]["annotations"]
    assert "cert-manager.io/cluster-issuer" not in mcp["metadata"]["annotations"]


def test_metrics_and_openapi_are_not_routed_publicly() -> None:
    run = run_program("dev")
    paths = [p["path"] for p in _ingress(run)["spec"]["rules"][0]["http"]["paths"]]
    assert "/" not in paths
    assert "/metrics" not in paths
    assert "/openapi.json" not in paths
    exposure = {**stack_config("dev")["agentsmcp:exposure"], "publishOpenapi": True}
    published = run_program("dev", config=config_with("dev", exposure=exposure))
    rule = _ingress(published)["spec"]["rules"][0]["http"]["paths"]
    assert ("/openapi.json", "Exact") in [(p["path"], p["pathType"]) for p in rule]


def _metric_names() -> set[str]:
    """Every metric the server's application factory registers, and the limiter's (registered
    when the app starts, in ``app.limits.limits_ctx``)."""
    from app.app_keys import METRICS_KEY
    from app.config import parse_config
    from app.limits import LimitMetrics
    from app.server import create_app

    registry = create_app(parse_config({"jwt_secret_key": "x" * 40}))[METRICS_KEY].registry
    LimitMetrics(registry, [])
    names = {"up"}
    for family in registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


_METRIC = re.compile(r"\b([a-z_:][a-z0-9_:]*)\{")


def test_alerts_and_dashboard_use_real_metric_names(run: ProgramRun) -> None:
    exposed = _metric_names()
    expressions: list[str] = []
    rules = run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    if rules:
        alerts = rules[0].inputs["spec"]["groups"][0]["rules"]
        assert {a["alert"] for a in alerts} == {
            "AgentsMCPDown",
            "HighErrorRate",
            "HighLatencyP99",
            "HighTimeToFirstToken",
            "AgentsMCPOverloaded",
            "UpstreamErrors",
            "RateLimitSaturation",
            "RateLimitStoreUnreachable",
            "IdentityProviderUnreachable",
            "TraceSpansDropped",
            "MCPToolCallErrors",
            "MCPProgressGaps",
            "A2ATaskFailures",
            "ToolServerErrors",
            "ToolListRefreshFailing",
        }
        expressions += [a["expr"] for a in alerts]
    dashboard = next(
        r.inputs
        for r in run.of_type(CONFIG_MAP)
        if r.inputs["metadata"]["name"] == "agentsmcp-dashboard"
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    for text in dashboard["data"].values():
        expressions += re.findall(r'"expr": "((?:[^"\\]|\\.)*)"', text)
    used = {name for expr in expressions for name in _METRIC.findall(expr)}
    assert used
    assert used <= exposed, used - exposed


def test_alert_thresholds_are_stricter_in_prod(stack_runs: dict[str, ProgramRun]) -> None:
    def thresholds(stack: str) -> dict[str, float]:
        rules = one(stack_runs[stack], "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        return {
            rule["alert"]: float(rule["expr"].rsplit("> ", 1)[1])
            for rule in rules.inputs["spec"]["groups"][0]["rules"]
            # No stack threshold: any failed key fetch, dropped span or tool-list refresh counts.
            if "> " in rule["expr"]
            and rule["alert"]
            not in ("IdentityProviderUnreachable", "TraceSpansDropped", "ToolListRefreshFailing")
        }

    staging, prod = thresholds("staging"), thresholds("prod")
    # The server's progress interval, not a stack's choice: the same everywhere.
    assert staging.pop("MCPProgressGaps") == prod.pop("MCPProgressGaps") == 10
    assert (
        set(staging)
        == set(prod)
        == {
            "HighErrorRate",
            "HighLatencyP99",
            "HighTimeToFirstToken",
            "AgentsMCPOverloaded",
            "UpstreamErrors",
            "RateLimitSaturation",
            "MCPToolCallErrors",
            "ToolServerErrors",
            "A2ATaskFailures",
        }
    )
    for alert in staging:
        assert prod[alert] < staging[alert], alert


def test_service_monitor(run: ProgramRun) -> None:
    monitor = one(run, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor").inputs
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s", "scheme": "http"}
    ]
    service = next(s for s in run.of_type(SERVICE) if s.inputs["metadata"]["name"] == "agentsmcp")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items()
        <= service.inputs["metadata"]["labels"].items()
    )


def test_app_stacks_install_no_cluster_addons(run: ProgramRun) -> None:
    # Releases and ClusterIssuers are the cluster stack's: two app stacks cannot collide on them.
    assert run.of_type(RELEASE) == []
    assert run.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer") == []
    reference = one(run, STACK_REFERENCE)
    local = {"dev": "local"}.get(run.stack, run.stack)
    assert reference.inputs["name"] == f"organization/agentsmcp-cluster/{local}"


def _walk_plain_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return []
        return [s for child in value.values() for s in _walk_plain_strings(child)]
    if isinstance(value, list):
        return [s for child in value for s in _walk_plain_strings(child)]
    return [value] if isinstance(value, str) else []


def _app_secret(run: ProgramRun) -> dict[str, Any]:
    (secret,) = [s for s in run.of_type(SECRET) if s.inputs["type"] == "Opaque"]
    return secret.inputs


def test_secrets_stay_secret(run: ProgramRun) -> None:
    secret = _app_secret(run)
    assert secret["stringData"].get(SIG_KEY) == SECRET_SIG
    assert set(secret["stringData"]["value"]) == {
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "JWT_SECRET_KEY",
    }
    placeholders = set(PLACEHOLDER_SECRETS.values())
    for reg in run.registrations:
        for text in _walk_plain_strings(reg.inputs):
            assert not any(p in text for p in placeholders), (reg.type, reg.name)
    for key, value in run.outputs.items():
        assert not any(p in str(value) for p in placeholders), key
    assert run.secret_outputs == set()


def test_stack_outputs(run: ProgramRun) -> None:
    namespace = f"agentsmcp-{run.stack}"
    assert run.outputs["namespace"] == namespace
    assert run.outputs["serviceName"] == "agentsmcp"
    assert run.outputs["inClusterUrl"] == f"http://agentsmcp.{namespace}.svc.cluster.local:80"
    assert run.outputs["publicUrl"].startswith("http://" if run.stack == "dev" else "https://")
    assert re.fullmatch(r".+@sha256:[0-9a-f]{64}", run.outputs["imageRef"])
    assert _container(run)["image"] == run.outputs["imageRef"]


def test_image_build_args(run: ProgramRun) -> None:
    image = one(run, "docker:index/image:Image").inputs
    build = image["build"]
    assert set(build["args"]) == {"VERSION", "VCS_REF", "BUILD_DATE"}
    # dev builds for the host's platform (an arm64 laptop's kind node is arm64).
    assert build.get("platform") == (None if run.stack == "dev" else "linux/amd64")
    assert build["dockerfile"] == "Dockerfile"
    assert image["skipPush"] is False
    if run.stack != "dev":
        # The password makes the whole registry block secret on the wire.
        assert image["registry"].get(SIG_KEY) == SECRET_SIG
        assert image["registry"]["value"]["server"] == "ghcr.io"
        assert image["registry"]["value"]["username"] == "agentsmcp-ci"


def test_base_images_and_wheelhouse_become_build_args() -> None:
    image = {
        **stack_config("staging")["agentsmcp:image"],
        "builderImage": "registry.example.com:5000/debian:12-slim",
        "runtimeImage": "registry.example.com/distroless/python3-debian12:nonroot",
        "wheelhouse": "build/wheelhouse",
    }
    run = run_program("staging", config=config_with("staging", image=image))
    args = one(run, "docker:index/image:Image").inputs["build"]["args"]
    assert args["BUILDER_IMAGE"] == "registry.example.com:5000/debian:12-slim"
    assert args["RUNTIME_IMAGE"] == "registry.example.com/distroless/python3-debian12:nonroot"
    assert args["WHEELHOUSE"] == "build/wheelhouse"
    assert "SOURCE_URL" not in args


def test_generated_jwt_key_when_absent() -> None:
    secrets = {k: v for k, v in PLACEHOLDER_SECRETS.items() if k != "jwtSecretKey"}
    run = run_program("staging", secrets=secrets)
    assert len(run.of_type("random:index/randomPassword:RandomPassword")) == 1
    string_data = _app_secret(run)["stringData"]
    assert string_data.get(SIG_KEY) == SECRET_SIG
    assert string_data["value"]["JWT_SECRET_KEY"].startswith("generated-")
    with_key = run_program("staging")
    assert with_key.of_type("random:index/randomPassword:RandomPassword") == []


def test_prebuilt_image_ref_skips_the_build() -> None:
    ref = "ghcr.io/agentsmcp/agentsmcp@sha256:" + "ab" * 32
    config = config_with("staging", image={"ref": ref})
    run = run_program("staging", config=config, secrets={**PLACEHOLDER_SECRETS})
    assert run.of_type("docker:index/image:Image") == []
    assert _container(run)["image"] == ref
    assert run.outputs["imageRef"] == ref


def test_debug_mode_sleeps_without_probes() -> None:
    run = run_program("dev", config=config_with("dev", debug={"enabled": True}))
    container = _container(run)
    assert container["command"][0] == "python"
    assert "signal.pause()" in container["command"][-1]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe not in container


def test_gateway_exposure_uses_an_http_route() -> None:
    exposure = {
        "mode": "gateway",
        "host": "agentsmcp.example.com",
        "tls": {"enabled": True},
        "gateway": {"name": "public", "namespace": "gateways", "sectionName": "https"},
    }
    run = run_program("prod", config=config_with("prod", exposure=exposure))
    assert run.of_type("kubernetes:networking.k8s.io/v1:Ingress") == []
    route = one(run, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").inputs["spec"]
    assert route["parentRefs"] == [
        {"name": "public", "namespace": "gateways", "sectionName": "https"}
    ]
    assert route["hostnames"] == ["agentsmcp.example.com"]
    assert route["rules"][0]["backendRefs"] == [{"name": "agentsmcp", "port": 80}]
    policy = _policy(run)
    assert _namespaces(policy["ingress"][0]["from"]) == {"gateways"}


def test_http_route_timeout_outlasts_the_longest_agent_request() -> None:
    """A Gateway's default request timeout (Envoy's: 15 s) would cut agents' answers and streams."""
    agents = _slow_agents()
    run = run_program(
        "prod", config=config_with("prod", serverConfig=server_config("prod", agents=agents))
    )
    route = one(run, HTTP_ROUTE).inputs["spec"]
    # slow's 120 s, then its fallback's 90.5 s (rounded up), plus the 10 s margin; on /mcp too.
    assert route["rules"][0]["timeouts"] == {"request": "221s"}
    assert route["rules"][1]["timeouts"] == {"request": "221s"}
    default = one(run_program("prod"), HTTP_ROUTE).inputs["spec"]["rules"][0]["timeouts"]
    assert int(default["request"].removesuffix("s")) >= 60 + 10


def test_preview_smoke(stack: str) -> None:
    run = run_program(stack, preview=True)
    assert _counts(run) == EXPECTED[stack]


def test_invalid_config_stops_before_any_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[str] = []
    original = _RecordingMocks.new_resource

    def recording(self: _RecordingMocks, args: Any) -> Any:
        created.append(args.typ)
        return original(self, args)

    monkeypatch.setattr(_RecordingMocks, "new_resource", recording)
    config = config_with(
        "staging", cluster=None, autoscaling={"enabled": True, "minReplicas": 9, "maxReplicas": 3}
    )
    with pytest.raises(pulumi.RunError) as caught:
        run_program("staging", config=config)
    expected = "agentsmcp:autoscaling.maxReplicas: must be at least autoscaling.minReplicas (3 < 9)"
    assert expected in str(caught.value)
    assert created == []


def test_missing_provider_key_is_named() -> None:
    secrets = {k: v for k, v in PLACEHOLDER_SECRETS.items() if k != "anthropicApiKey"}
    with pytest.raises(pulumi.RunError, match=r"agentsmcp:anthropicApiKey: required"):
        run_program("staging", secrets=secrets)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stack=st.sampled_from(["dev", "staging", "prod"]),
    exposure=st.sampled_from(["none", "ingress", "gateway"]),
    load_balancer=st.booleans(),
    vpa_mode=st.sampled_from(["Off", "Initial", "Auto"]),
    debug=st.booleans(),
    pre_stop=st.integers(0, 30),
    monitoring=st.booleans(),
)
def test_feature_combinations_run_or_fail_with_named_keys(
    stack: str,
    exposure: str,
    load_balancer: bool,
    vpa_mode: str,
    debug: bool,
    pre_stop: int,
    monitoring: bool,
) -> None:
    exposure_config: dict[str, Any] = {"mode": exposure, "host": "agentsmcp.example.com"}
    if exposure == "gateway":
        exposure_config["gateway"] = {"name": "public", "namespace": "gateways"}
    config = config_with(
        stack,
        cluster=None,
        exposure=exposure_config,
        loadBalancer={"enabled": load_balancer, "sourceRanges": ["203.0.113.0/24"]},
        vpa={"enabled": True, "updateMode": vpa_mode},
        debug={"enabled": debug},
        preStopSeconds=pre_stop,
        monitoring={"enabled": monitoring},
    )
    try:
        run = run_program(stack, config=config)
    except pulumi.RunError as exc:
        lines = str(exc).splitlines()[1:]
        assert lines
        assert all(re.match(r"\s+agentsmcp:[\w.]+: \S", line) for line in lines), lines
        return
    assert len(run.of_type(DEPLOYMENT)) == 1
    assert (len(run.of_type(SERVICE)) == 2) == load_balancer
    for reg in run.kubernetes_objects:
        if reg.type != PROVIDER_TYPE:
            assert reg.inputs["metadata"]["name"], reg.name


def test_http01_solver_pods_are_admitted_from_the_ingress_controller() -> None:
    run = run_program("staging", config=ingress_tls_staging_config())
    solver = _policy(run, "acme-http01-solver")
    assert solver["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    assert solver["policyTypes"] == ["Ingress"]
    (rule,) = solver["ingress"]
    assert _namespaces(rule["from"]) == {"ingress-nginx"}
    assert rule["ports"] == [{"port": 8089, "protocol": "TCP"}]
    # Without TLS there are no challenges, and no extra hole in the namespace.
    plain = run_program("dev")
    assert "acme-http01-solver" not in {
        p.inputs["metadata"]["name"] for p in plain.of_type(NETWORK_POLICY)
    }


def test_configured_ingress_sources_reach_the_app_and_the_solver() -> None:
    sources = [{"namespace": "traefik"}, {"cidrs": ["10.1.0.0/16"]}]
    run = run_program(
        "staging", config=ingress_tls_staging_config(networkPolicy={"ingressSources": sources})
    )
    expected = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}},
        {"ipBlock": {"cidr": "10.1.0.0/16"}},
    ]
    assert _policy(run)["ingress"][0]["from"] == expected
    assert _policy(run, "acme-http01-solver")["ingress"][0]["from"] == expected


def test_dns_and_extra_egress_are_configurable() -> None:
    network_policy = {
        "dns": {"namespace": "dns", "podLabels": {"k8s-app": "kube-dns"}, "cidrs": []},
        "upstreamPorts": [{"port": 443}, {"port": 8443}],
        "extraEgress": [
            {"namespace": "llm", "podLabels": {"app": "vllm"}, "ports": [{"port": 8000}]},
            {"cidrs": ["10.20.0.0/16"], "exceptCidrs": ["10.20.5.0/24"], "ports": [{"port": 3128}]},
            {"namespaceLabels": {"team": "ml"}, "ports": [{"port": 11434, "endPort": 11440}]},
        ],
    }
    run = run_program("dev", config=config_with("dev", networkPolicy=network_policy))
    dns, upstream, vllm, proxy, ollama = _policy(run)["egress"]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dns"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert upstream["ports"] == [
        {"port": 443, "protocol": "TCP"},
        {"port": 8443, "protocol": "TCP"},
    ]
    assert vllm == {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "llm"}},
                "podSelector": {"matchLabels": {"app": "vllm"}},
            }
        ],
        "ports": [{"port": 8000, "protocol": "TCP"}],
    }
    assert proxy["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16", "except": ["10.20.5.0/24"]}}]
    assert ollama["to"] == [{"namespaceSelector": {"matchLabels": {"team": "ml"}}}]
    assert ollama["ports"] == [{"port": 11434, "endPort": 11440, "protocol": "TCP"}]


def test_load_balancer_source_ranges_are_admitted_by_the_policy() -> None:
    balancer = {"enabled": True, "sourceRanges": ["203.0.113.0/24", "2001:db8::/32"]}
    run = run_program("dev", config=config_with("dev", loadBalancer=balancer))
    service = next(s for s in run.of_type(SERVICE) if s.inputs["spec"]["type"] == "LoadBalancer")
    assert service.inputs["spec"]["loadBalancerSourceRanges"] == balancer["sourceRanges"]
    # Local keeps the client address, which the ipBlocks below match.
    assert service.inputs["spec"]["externalTrafficPolicy"] == "Local"
    assert service.inputs["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    public = _policy(run)["ingress"][0]
    assert {"ipBlock": {"cidr": "203.0.113.0/24"}} in public["from"]
    assert {"ipBlock": {"cidr": "2001:db8::/32"}} in public["from"]
    assert public["ports"] == [{"port": "http", "protocol": "TCP"}]


@pytest.mark.parametrize(
    ("stack", "balancer", "line"),
    [
        (
            "prod",
            {"enabled": True, "sourceRanges": ["0.0.0.0/0"]},
            "agentsmcp:loadBalancer.enabled: the LoadBalancer Service serves plain HTTP",
        ),
        ("dev", {"enabled": True}, "agentsmcp:loadBalancer.sourceRanges: required"),
    ],
)
def test_load_balancer_refusals_name_the_key(
    stack: str, balancer: dict[str, Any], line: str
) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        run_program(stack, config=config_with(stack, loadBalancer=balancer))
    assert line in str(caught.value)
    assert "Traceback" not in str(caught.value)
