"""agentsmcp on Kubernetes: `pulumi up -s dev|staging|prod` (see docs/deploy.md)."""

from __future__ import annotations

from pathlib import Path

import pulumi

from app.config import tool_server_token_env
from components.autoscaling import Autoscaling, AutoscalingArgs
from components.cluster_ref import cluster_facts
from components.config import StackConfigError, load_stack_config
from components.exposure import Exposure, ExposureArgs
from components.image import AppImage, AppImageArgs, source_revision
from components.kube import cluster_provider, common_labels, selector_labels
from components.limits_store import ValkeyStore, ValkeyStoreArgs, store_egress
from components.monitoring import Monitoring, MonitoringArgs
from components.namespace import NamespaceBaseline, NamespaceBaselineArgs
from components.secrets import AppSecrets, AppSecretsArgs
from components.workload import METRICS_PORT_NAME, SERVICE_PORT, AgentServer, AgentServerArgs

ROOT = Path(__file__).resolve().parent


def main() -> None:
    try:
        config, secrets = load_stack_config()
    except StackConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    stack = pulumi.get_stack()
    labels = common_labels(stack, config.image.version)
    provider = cluster_provider(stack, config.kubernetes)

    # Ingress controller, Gateway, cert-manager, monitoring: the cluster stack's (cluster/).
    facts = cluster_facts(config)
    public_sources = {
        "ingress": [facts.ingress_namespace],
        "gateway": [facts.gateway_traffic_namespace] if facts.gateway_traffic_namespace else [],
        "none": [],
    }[config.exposure.mode]
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
    vcs_ref, build_date = source_revision(ROOT, config.image)
    image = AppImage(
        "image",
        AppImageArgs(
            settings=config.image,
            vcs_ref=vcs_ref,
            build_date=build_date,
            registry_password=secrets.registry_password,
        ),
    )
    store = config.limits_store
    redis_url, redis_password = secrets.redis_url, secrets.redis_password
    valkey_selector = None
    if store.mode == "valkey":
        valkey = ValkeyStore(
            "limits-store",
            ValkeyStoreArgs(
                stack=stack,
                namespace=baseline.name,
                namespace_name=config.namespace,
                labels=labels,
                server_selector=selector_labels(stack),
                settings=store.valkey,
                password=secrets.redis_password,
            ),
            provider,
        )
        redis_url, redis_password = valkey.url, valkey.password
        valkey_selector = valkey.selector
    elif store.mode == "none":
        redis_url = redis_password = None
    app_secrets = AppSecrets(
        "secrets",
        AppSecretsArgs(
            namespace=baseline.name,
            labels=labels,
            openai_api_key=secrets.openai_api_key,
            anthropic_api_key=secrets.anthropic_api_key,
            jwt_secret_key=secrets.jwt_secret_key,
            jwt_previous_secret_key=secrets.jwt_previous_secret_key,
            registry=config.image.registry,
            registry_password=secrets.registry_password,
            redis_url=redis_url,
            redis_password=redis_password,
            tool_server_tokens={
                tool_server_token_env(name): token
                for name, token in (
                    secrets.tool_server_tokens
                    if isinstance(secrets.tool_server_tokens, dict)
                    else {}
                ).items()
            },
        ),
        provider,
    )
    server = AgentServer(
        "server",
        AgentServerArgs(
            stack=stack,
            config=config,
            namespace=baseline.name,
            labels=labels,
            image_ref=image.ref,
            secret_name=app_secrets.name,
            secret_revision=app_secrets.revision,
            pull_secret_name=app_secrets.pull_secret_name,
            public_source_namespaces=public_sources,
            monitoring_namespace=facts.monitoring_namespace,
            store_egress=store_egress(store, valkey_selector),
        ),
        provider,
    )
    if config.autoscaling.enabled or config.vpa.enabled:
        Autoscaling(
            "autoscaling",
            AutoscalingArgs(
                namespace=baseline.name,
                labels=labels,
                deployment=server.deployment,
                hpa=config.autoscaling,
                vpa=config.vpa,
                namespace_name=config.namespace,
                job=server.service_name,
                target_inflight=config.keda_target_inflight,
            ),
            provider,
        )
    exposure = Exposure(
        "exposure",
        ExposureArgs(
            config=config,
            namespace=baseline.name,
            labels=labels,
            service_name=server.service_name,
            service_port=SERVICE_PORT,
            ingress_class_name=facts.ingress_class_name,
            gateway_name=facts.gateway_name,
            gateway_namespace=facts.gateway_namespace,
            public_source_namespaces=public_sources,
            depends_on=[baseline],
        ),
        provider,
    )
    if config.monitoring.enabled:
        Monitoring(
            "monitoring",
            MonitoringArgs(
                namespace=config.namespace,
                labels=labels,
                settings=config.monitoring,
                service_name=server.service_name,
                port_name=METRICS_PORT_NAME,
                selector=selector_labels(stack),
                release_label=facts.release_label,
                depends_on=[baseline],
            ),
            provider,
        )

    pulumi.export("namespace", baseline.name)
    pulumi.export("serviceName", server.service_name)
    pulumi.export(
        "inClusterUrl",
        f"http://{server.service_name}.{config.namespace}.svc.cluster.local:{SERVICE_PORT}",
    )
    pulumi.export("publicUrl", exposure.public_url)
    pulumi.export("imageRef", image.ref)


main()
