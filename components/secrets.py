"""The server's Secrets: API keys, JWT keys, the limits store's URL and password and the tool
servers' bearer tokens (mounted as files), and the registry pull Secret."""

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

from components.config import RegistrySettings
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


class AppSecrets(KubeComponent[AppSecretsArgs]):
    """``name`` and ``pull_secret_name`` are outputs of the Secrets themselves, so whatever uses
    them (the Deployment) is created after them. A changed value updates the Secret in place (the
    provider treats Secrets as mutable: components.kube), so the mounted files rotate and the
    server re-reads them; ``revision`` changes with the values, and the pods roll on it too, for
    what is read only at start (docs/operations.md, "Rotating secrets")."""

    name: pulumi.Output[str]
    revision: pulumi.Output[str]
    pull_secret_name: pulumi.Output[str] | None

    TYPE = "agentsmcp:index:AppSecrets"

    def _build(
        self, resource_name: str, args: AppSecretsArgs, provider: k8s.Provider
    ) -> Mapping[str, Any]:
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
            opts=child_opts(self, provider),
        )
        self.name = secret.metadata.apply(lambda m: m.name or SECRET_NAME)
        self.revision = pulumi.Output.unsecret(
            pulumi.Output.all(**string_data).apply(
                lambda data: secret_revision(data, data["JWT_SECRET_KEY"])
            )
        )
        self.pull_secret_name = None
        registry = args.registry
        if registry is not None and args.registry_password is not None:
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
                opts=child_opts(self, provider),
            )
            self.pull_secret_name = pull_secret.metadata.apply(lambda m: m.name or PULL_SECRET_NAME)
        return {
            "name": self.name,
            "revision": self.revision,
            "pullSecretName": self.pull_secret_name,
        }
