"""The server's Secrets: API keys, JWT keys, the limits store's URL and password and the tool
servers' bearer tokens (mounted as files), from the stack's secrets or, with externalSecrets,
from a secret store through External Secrets Operator; and the registry pull Secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.cluster_ref import once_installed
from components.config import ExternalSecretsSettings, RegistrySettings
from components.kube import KubeComponent, child_opts

SECRET_NAME = "agentsmcp-secrets"  # noqa: S105 (a name, not a value)
PULL_SECRET_NAME = "agentsmcp-registry"  # noqa: S105 (a name, not a value)
DOCKER_CONFIG_KEY = ".dockerconfigjson"


def _secret(value: pulumi.Output[str]) -> pulumi.Output[str]:
    marked: pulumi.Output[str] = pulumi.Output.secret(value)
    return marked


def secret_revision(values: Mapping[str, str], key: str) -> str:
    """Changes exactly when ``values`` do, and reveals nothing about them: an HMAC keyed by
    ``key`` (the JWT signing key, itself one of the values), so a guess cannot be tested
    against it and it may stand in the pod template as a plain value."""
    text = "\n".join(f"{name}={values[name]}" for name in sorted(values))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()[:16]


def generated_password(
    resource_name: str, length: int, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """A random password of letters and digits, kept in the stack's state (stable across runs)."""
    password = random.RandomPassword(
        resource_name, length=length, special=False, opts=pulumi.ResourceOptions(parent=parent)
    )
    return password.result


def docker_config_json(server: str, username: str, password: str) -> str:
    """The ``.dockerconfigjson`` document the kubelet reads for ``imagePullSecrets``."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry = {"username": username, "password": password, "auth": auth}
    return json.dumps({"auths": {server: entry}}, sort_keys=True)


@dataclass(frozen=True)
class AppSecretsArgs:
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    openai_api_key: pulumi.Output[str] | None
    anthropic_api_key: pulumi.Output[str] | None
    jwt_secret_key: pulumi.Output[str] | None
    jwt_previous_secret_key: pulumi.Output[str] | None = None
    registry: RegistrySettings | None = None
    registry_password: pulumi.Output[str] | None = None
    # The shared limits store (serverConfig.rate_limit.backend redis), when there is one.
    redis_url: pulumi.Output[str] | None = None
    redis_password: pulumi.Output[str] | None = None
    # TOOL_SERVER_<NAME>_TOKEN (app.config.tool_server_token_env) -> bearer token.
    tool_server_tokens: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    # externalSecrets: the app's Secret comes from a secret store instead of the values above.
    external: ExternalSecretsSettings | None = None
    # From the cluster stack (ClusterFacts): the ExternalSecret waits on it, so that a missing
    # operator fails the program with its one line instead of an unknown kind.
    external_secrets_installed: pulumi.Input[bool] = True


class AppSecrets(KubeComponent[AppSecretsArgs]):
    """``name`` and ``pull_secret_name`` are outputs of the objects behind them, so whatever uses
    them (the Deployment) is created after them. A changed value updates the Secret in place (the
    provider treats Secrets as mutable: components.kube; ESO writes the Secret it owns in place),
    so the mounted files rotate and the server re-reads them. ``revision`` changes with the stack's
    values, and the pods roll on it too, for what is read only at start (docs/operations.md,
    "Rotating secrets"); None with externalSecrets, whose values Pulumi never sees."""

    name: pulumi.Output[str]
    revision: pulumi.Output[str] | None
    pull_secret_name: pulumi.Output[str] | None

    TYPE = "agentsmcp:index:AppSecrets"

    def _build(
        self, resource_name: str, args: AppSecretsArgs, provider: k8s.Provider
    ) -> Mapping[str, Any]:
        opts = child_opts(self, provider)
        if args.external is not None:
            self.name = _external_secret(resource_name, args, args.external, opts)
            self.revision = None
        else:
            self.name, self.revision = self._stack_secret(resource_name, args, opts)
        self.pull_secret_name = _pull_secret(resource_name, args, opts)
        return {
            "name": self.name,
            "revision": self.revision,
            "pullSecretName": self.pull_secret_name,
        }

    def _stack_secret(
        self, resource_name: str, args: AppSecretsArgs, opts: pulumi.ResourceOptions
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        jwt_secret_key = args.jwt_secret_key
        if jwt_secret_key is None:
            jwt_secret_key = generated_password(f"{resource_name}-jwt-secret-key", 64, self)
        values: dict[str, pulumi.Output[str]] = {"JWT_SECRET_KEY": jwt_secret_key}
        optional = {
            "JWT_PREVIOUS_SECRET_KEY": args.jwt_previous_secret_key,
            "OPENAI_API_KEY": args.openai_api_key,
            "ANTHROPIC_API_KEY": args.anthropic_api_key,
            "REDIS_URL": args.redis_url,
            "REDIS_PASSWORD": args.redis_password,
        }
        values.update({key: value for key, value in optional.items() if value is not None})
        values.update(args.tool_server_tokens)
        # Each value secret on its own, so the Secret's shape (its keys) stays visible in diffs.
        string_data = {key: _secret(value) for key, value in sorted(values.items())}
        secret = k8s.core.v1.Secret(
            f"{resource_name}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SECRET_NAME, namespace=args.namespace, labels=args.labels
            ),
            type="Opaque",
            string_data=string_data,
            opts=opts,
        )
        revision = pulumi.Output.unsecret(
            pulumi.Output.all(**string_data).apply(
                lambda data: secret_revision(data, data["JWT_SECRET_KEY"])
            )
        )
        return secret.metadata.apply(lambda m: m.name or SECRET_NAME), revision


def external_secret_spec(
    external: ExternalSecretsSettings, labels: dict[str, str]
) -> dict[str, Any]:
    """The ExternalSecret: ESO writes (and refreshes in place) the Secret SECRET_NAME, which the
    pods mount exactly as the stack's own (owned by the ExternalSecret); a key that disappears
    from the store leaves the last value in place (deletionPolicy Retain)."""
    assert external.store is not None  # checked with the stack config
    spec: dict[str, Any] = {
        "refreshInterval": external.refresh_interval,
        "secretStoreRef": {"name": external.store.name, "kind": external.store.kind},
        "target": {
            "name": SECRET_NAME,
            "creationPolicy": "Owner",
            "deletionPolicy": "Retain",
            "template": {"type": "Opaque", "metadata": {"labels": labels}},
        },
    }
    if external.data:
        spec["data"] = [
            {
                "secretKey": name,
                "remoteRef": {
                    key: value
                    for key, value in (
                        ("key", ref.key),
                        ("property", ref.property),
                        ("version", ref.version),
                    )
                    if value is not None
                },
            }
            for name, ref in sorted(external.data.items())
        ]
    if external.data_from:
        spec["dataFrom"] = [{"extract": {"key": key}} for key in external.data_from]
    return spec


def _external_secret(
    resource_name: str,
    args: AppSecretsArgs,
    external: ExternalSecretsSettings,
    opts: pulumi.ResourceOptions,
) -> pulumi.Output[str]:
    external_secret = k8s.apiextensions.CustomResource(
        f"{resource_name}-external-secret",
        api_version="external-secrets.io/v1",
        kind="ExternalSecret",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=once_installed(args.external_secrets_installed, SECRET_NAME),
            namespace=args.namespace,
            labels=args.labels,
        ),
        spec=external_secret_spec(external, args.labels),
        opts=opts,
    )
    return external_secret.id.apply(lambda _: SECRET_NAME)


def _pull_secret(
    resource_name: str, args: AppSecretsArgs, opts: pulumi.ResourceOptions
) -> pulumi.Output[str] | None:
    registry = args.registry
    if registry is None or args.registry_password is None:
        return None
    config_json = args.registry_password.apply(
        lambda password: docker_config_json(registry.server, registry.username, password)
    )
    pull_secret = k8s.core.v1.Secret(
        f"{resource_name}-registry",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=PULL_SECRET_NAME, namespace=args.namespace, labels=args.labels
        ),
        type="kubernetes.io/dockerconfigjson",
        string_data={DOCKER_CONFIG_KEY: _secret(config_json)},
        opts=opts,
    )
    return pull_secret.metadata.apply(lambda m: m.name or PULL_SECRET_NAME)
