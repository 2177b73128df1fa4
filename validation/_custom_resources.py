"""Custom resources, validated against their published schemas with unknown keys rejected.

prometheus-operator and cert-manager kinds use the pydantic models that cloudcoil generates from
the projects' CRDs (``cloudcoil-models-*``). No maintained package ships the VerticalPodAutoscaler
or Gateway API HTTPRoute schema, so ``schemas/`` holds strict JSON schemas written from their
published CRDs (source and version in each schema's ``$comment``)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
from referencing import Registry, Resource

from ._findings import CheckResult
from ._manifests import Manifest, Stack

SCHEMAS = Path(__file__).parent / "schemas"
KUBERNETES_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"

Validator = Callable[[dict[str, Any]], list[str]]


def _pydantic_validator(module: str, name: str) -> Validator:
    """Validate with the cloudcoil model ``module.name``, imported on first use (it is slow)."""

    def validate(body: dict[str, Any]) -> list[str]:
        model: type[pydantic.BaseModel] = getattr(importlib.import_module(module), name)
        try:
            model.model_validate_json(json.dumps(body), strict=True, extra="forbid")
        except pydantic.ValidationError as error:
            return [
                f"{'.'.join(str(p) for p in problem['loc']) or '(top level)'}: {problem['msg']}"
                for problem in error.errors(include_url=False)
            ]
        return []

    validate.__doc__ = f"{module}.{name} (extra keys forbidden)"
    return validate


@cache
def _kubernetes_definitions() -> Resource[Any]:
    import kubernetes_validate.utils as kv  # type: ignore[import-untyped]

    newest = kv.latest_version()
    definitions = kv.schema_contents(
        f"kubernetes-json-schema/v{newest}-local-strict/_definitions.json", newest
    )
    return Resource.from_contents(definitions)


def _json_schema_validator(schema_file: str) -> Validator:
    @cache
    def compiled() -> jsonschema.protocols.Validator:
        text = (SCHEMAS / schema_file).read_text(encoding="utf-8")
        schema = json.loads(text)
        registry: Registry[Any] = Registry().with_resource(
            KUBERNETES_DEFINITIONS, _kubernetes_definitions()
        )
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        return validator_class(schema, registry=registry)

    def validate(body: dict[str, Any]) -> list[str]:
        return [
            f"{'.'.join(str(p) for p in error.absolute_path) or '(top level)'}: {error.message}"
            for error in sorted(
                compiled().iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path]
            )
        ]

    validate.__doc__ = f"schemas/{schema_file}"
    return validate


PROMETHEUS_OPERATOR = "cloudcoil.models.prometheus_operator.v1"
CERT_MANAGER = "cloudcoil.models.cert_manager.v1"

CUSTOM_RESOURCES: dict[tuple[str, str], Validator] = (
    {
        ("monitoring.coreos.com/v1", kind): _pydantic_validator(PROMETHEUS_OPERATOR, kind)
        for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule")
    }
    | {
        ("cert-manager.io/v1", kind): _pydantic_validator(CERT_MANAGER, kind)
        for kind in ("ClusterIssuer", "Issuer", "Certificate")
    }
    | {
        ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"): _json_schema_validator(
            "verticalpodautoscaler-autoscaling.k8s.io-v1.json"
        ),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"): _json_schema_validator(
            "httproute-gateway.networking.k8s.io-v1.json"
        ),
    }
)


def is_custom_resource(api_version: str, kind: str) -> bool:
    return (api_version, kind) in CUSTOM_RESOURCES


def validate_custom_resource(manifest: Manifest) -> list[str] | None:
    """Problems with one custom resource, or None when the kind is not a known custom resource."""
    validator = CUSTOM_RESOURCES.get((manifest.api_version, manifest.kind))
    return None if validator is None else validator(manifest.body)


def check_custom_resources(stack: Stack, result: CheckResult) -> None:
    for manifest in stack.objects:
        problems = validate_custom_resource(manifest)
        if problems is None:
            continue
        result.runs += 1
        for problem in problems:
            result.fail(manifest.label, problem)
