"""The server's Secret: provider API keys and the JWT signing key, all kept as secret outputs."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kube import child_opts

SECRET_NAME = "agentsmcp-secrets"  # noqa: S105 (a name, not a value)


def _secret(value: pulumi.Output[str]) -> pulumi.Output[str]:
    marked: pulumi.Output[str] = pulumi.Output.secret(value)
    return marked


@dataclass(frozen=True)
class AppSecretsArgs:
    namespace: pulumi.Input[str]
    labels: dict[str, str]
    openai_api_key: pulumi.Output[str] | None
    anthropic_api_key: pulumi.Output[str] | None
    jwt_secret_key: pulumi.Output[str] | None


class AppSecrets(pulumi.ComponentResource):
    name: str
    revision: pulumi.Output[str]
    keys: tuple[str, ...]

    def __init__(
        self,
        resource_name: str,
        args: AppSecretsArgs,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("agentsmcp:index:AppSecrets", resource_name, None, opts)
        jwt_secret_key = args.jwt_secret_key
        if jwt_secret_key is None:
            generated = random.RandomPassword(
                f"{resource_name}-jwt-secret-key",
                length=64,
                special=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            jwt_secret_key = generated.result
        values: dict[str, pulumi.Output[str]] = {"JWT_SECRET_KEY": jwt_secret_key}
        if args.openai_api_key is not None:
            values["OPENAI_API_KEY"] = args.openai_api_key
        if args.anthropic_api_key is not None:
            values["ANTHROPIC_API_KEY"] = args.anthropic_api_key
        self.keys = tuple(sorted(values))
        # Each value secret on its own, so the Secret's shape (its keys) stays visible in diffs.
        string_data = {key: _secret(value) for key, value in sorted(values.items())}
        self.name = SECRET_NAME
        k8s.core.v1.Secret(
            f"{resource_name}-secret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SECRET_NAME, namespace=args.namespace, labels=args.labels
            ),
            type="Opaque",
            string_data=string_data,
            opts=child_opts(self, provider),
        )
        # The pods must roll when a secret changes, but a plain hash of the secrets in the pod
        # template would make the whole Deployment spec secret (or let anyone holding it test
        # guesses). An HMAC keyed by the JWT signing key, itself one of the secrets, changes exactly
        # when the secrets do and reveals nothing about them, so it can be a plain output; and no
        # extra provider (random) is needed for it.
        revision: pulumi.Output[str] = pulumi.Output.all(**string_data).apply(
            lambda data: hmac.new(
                data["JWT_SECRET_KEY"].encode(),
                "\n".join(f"{key}={data[key]}" for key in sorted(data)).encode(),
                hashlib.sha256,
            ).hexdigest()[:16]
        )
        self.revision = pulumi.Output.unsecret(revision)
        self.register_outputs({"name": SECRET_NAME})
