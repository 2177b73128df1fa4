"""agentsmcp on Kubernetes: `pulumi up -s dev|staging|prod` (see docs/deploy.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from app.config import tool_server_token_env
from components.autoscaling import Autoscaling, AutoscalingArgs
from components.cluster_ref import ClusterFacts, cluster_facts
from components.config import Secrets, StackConfig, StackConfigError, load_stack_config
from components.exposure import Exposure, ExposureArgs
from components.image import AppImage, AppImageArgs, source_revision
from components.kube import cluster_provider, common_labels, selector_labels
from components.limits_store import ValkeyStore, ValkeyStoreArgs, store_egress
from components.monitoring import Monitoring, MonitoringArgs
from components.namespace import NamespaceBaseline, NamespaceBaselineArgs
from components.secrets import AppSecrets, AppSecretsArgs
from components.workload import METRICS_PORT_NAME, SERVICE_PORT, AgentServer, AgentServerArgs

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class AppStack:
    """What every step builds on: the stack's config and secrets, and the namespace."""

    stack: str
    config: StackConfig
    secrets: Secrets
    labels: dict[str, str]
    provider: k8s.Provider
    # Ingress controller, Gateway, cert-manager, monitoring: the cluster stack's (cluster/).
    facts: ClusterFacts
    baseline: NamespaceBaseline

    @property
    def public_sources(self) -> list[pulumi.Input[str]]:
        """The namespaces public traffic comes from: the ingress controller's or the Gateway's."""
        facts = self.facts
        return {
            "ingress": [facts.ingress_namespace],
            "gateway": [facts.gateway_traffic_namespace] if facts.gateway_traffic_namespace else [],
            "none": [],
        }[self.config.exposure.mode]


@dataclass(frozen=True)
class StoreAccess:
    """How the server reaches the limits store (all None without one)."""

    redis_url: pulumi.Output[str] | None
    redis_password: pulumi.Output[str] | None
    valkey_selector: dict[str, str] | None


def main() -> None:
    app = _app_stack()
    image = _image(app)
    store = _limits_store(app)
    app_secrets = _secrets(app, store)
    server = _server(app, image, app_secrets, store)
    if app.config.autoscaling.enabled or app.config.vpa.enabled:
        _autoscaling(app, server)
    exposure = _exposure(app, server)
    if app.config.monitoring.enabled:
        _monitoring(app, server)
    _export(app, server, exposure, image)


def _app_stack() -> AppStack:
    try:
        config, secrets = load_stack_config()
    except StackConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    stack = pulumi.get_stack()
    labels = common_labels(stack, config.image.version)
    provider = cluster_provider(stack, config.kubernetes)
    facts = cluster_facts(config)
    baseline = NamespaceBaseline(
        "namespace",
        NamespaceBaselineArgs(
            name=config.namespace,
            labels=labels,
            quota=config.quota,
            limit_range=config.limit_range,
        ),
        provider,
    )
    return AppStack(stack, config, secrets, labels, provider, facts, baseline)


def _image(app: AppStack) -> AppImage:
    vcs_ref, build_date = source_revision(ROOT, app.config.image)
    return AppImage(
        "image",
        AppImageArgs(
            settings=app.config.image,
            vcs_ref=vcs_ref,
            build_date=build_date,
            registry_password=app.secrets.registry_password,
        ),
    )


def _limits_store(app: AppStack) -> StoreAccess:
    """Our own Valkey, an external store (its URL and password from the secrets), or none."""
    store = app.config.limits_store
    if store.mode == "none":
        return StoreAccess(None, None, None)
    if store.mode != "valkey":
        return StoreAccess(app.secrets.redis_url, app.secrets.redis_password, None)
    valkey = ValkeyStore(
        "limits-store",
        ValkeyStoreArgs(
            stack=app.stack,
            namespace=app.baseline.name,
            namespace_name=app.config.namespace,
            labels=app.labels,
            server_selector=selector_labels(app.stack),
            settings=store.valkey,
            password=app.secrets.redis_password,
        ),
        app.provider,
    )
    return StoreAccess(valkey.url, valkey.password, valkey.selector)


def _secrets(app: AppStack, store: StoreAccess) -> AppSecrets:
    secrets = app.secrets
    return AppSecrets(
        "secrets",
        AppSecretsArgs(
            namespace=app.baseline.name,
            labels=app.labels,
            openai_api_key=secrets.openai_api_key,
            anthropic_api_key=secrets.anthropic_api_key,
            jwt_secret_key=secrets.jwt_secret_key,
            jwt_previous_secret_key=secrets.jwt_previous_secret_key,
            registry=app.config.image.registry,
            registry_password=secrets.registry_password,
            redis_url=store.redis_url,
            redis_password=store.redis_password,
            tool_server_tokens={
                tool_server_token_env(name): token
                for name, token in secrets.tool_server_tokens.items()
            },
            external=app.config.external_secrets if app.config.external_secrets.enabled else None,
            external_secrets_installed=app.facts.external_secrets_installed,
        ),
        app.provider,
    )


def _server(
    app: AppStack, image: AppImage, app_secrets: AppSecrets, store: StoreAccess
) -> AgentServer:
    return AgentServer(
        "server",
        AgentServerArgs(
            stack=app.stack,
            config=app.config,
            namespace=app.baseline.name,
            labels=app.labels,
            image_ref=image.ref,
            secret_name=app_secrets.name,
            secret_revision=app_secrets.revision,
            pull_secret_name=app_secrets.pull_secret_name,
            public_source_namespaces=app.public_sources,
            monitoring_namespace=app.facts.monitoring_namespace,
            store_egress=store_egress(app.config.limits_store, store.valkey_selector),
        ),
        app.provider,
    )


def _autoscaling(app: AppStack, server: AgentServer) -> None:
    Autoscaling(
        "autoscaling",
        AutoscalingArgs(
            namespace=app.baseline.name,
            labels=app.labels,
            deployment=server.deployment,
            hpa=app.config.autoscaling,
            vpa=app.config.vpa,
            namespace_name=app.config.namespace,
            job=server.service_name,
            target_inflight=app.config.keda_target_inflight,
            keda_installed=app.facts.keda_installed,
            vpa_installed=app.facts.vpa_installed,
        ),
        app.provider,
    )


def _exposure(app: AppStack, server: AgentServer) -> Exposure:
    return Exposure(
        "exposure",
        ExposureArgs(
            config=app.config,
            namespace=app.baseline.name,
            labels=app.labels,
            service_name=server.service_name,
            service_port=SERVICE_PORT,
            ingress_class_name=app.facts.ingress_class_name,
            gateway_name=app.facts.gateway_name,
            gateway_namespace=app.facts.gateway_namespace,
            public_source_namespaces=app.public_sources,
            depends_on=[app.baseline],
        ),
        app.provider,
    )


def _monitoring(app: AppStack, server: AgentServer) -> None:
    Monitoring(
        "monitoring",
        MonitoringArgs(
            namespace=app.config.namespace,
            labels=app.labels,
            settings=app.config.monitoring,
            service_name=server.service_name,
            port_name=METRICS_PORT_NAME,
            selector=selector_labels(app.stack),
            release_label=app.facts.release_label,
            depends_on=[app.baseline],
        ),
        app.provider,
    )


def _export(app: AppStack, server: AgentServer, exposure: Exposure, image: AppImage) -> None:
    namespace = app.config.namespace
    pulumi.export("namespace", app.baseline.name)
    pulumi.export("serviceName", server.service_name)
    pulumi.export(
        "inClusterUrl", f"http://{server.service_name}.{namespace}.svc.cluster.local:{SERVICE_PORT}"
    )
    pulumi.export("publicUrl", exposure.public_url)
    pulumi.export("imageRef", image.ref)


main()
