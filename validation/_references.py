"""Cross-object references inside one stack, the mistakes a schema cannot see: a Service whose
selector matches no pod, a named port nobody declares, an autoscaler aimed at a missing
Deployment, a Secret key the pods read but the Secret lacks, ``spec.replicas`` next to an HPA or
a KEDA ScaledObject. A Secret an ExternalSecret of the stack writes counts as the stack's."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._findings import CheckResult
from ._manifests import Manifest, Stack
from ._pod_security import pod_specs

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})


@dataclass(frozen=True)
class PodTemplate:
    owner: Manifest
    namespace: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]

    @property
    def port_names(self) -> set[str]:
        return {
            str(p["name"]) for c in self.containers for p in c.get("ports") or [] if "name" in p
        }

    @property
    def port_numbers(self) -> set[int]:
        return {int(p["containerPort"]) for c in self.containers for p in c.get("ports") or []}

    @property
    def containers(self) -> list[dict[str, Any]]:
        return [*(self.spec.get("initContainers") or []), *(self.spec.get("containers") or [])]


def _namespace(manifest: Manifest, default: str = "") -> str:
    return str((manifest.body.get("metadata") or {}).get("namespace") or default)


def _name(manifest: Manifest) -> str:
    return str((manifest.body.get("metadata") or {}).get("name") or "")


def _labels(manifest: Manifest) -> dict[str, str]:
    return dict((manifest.body.get("metadata") or {}).get("labels") or {})


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against a label set."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = set(expression.get("values") or [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


class _Index:
    def __init__(self, stack: Stack) -> None:
        self.by_kind: dict[tuple[str, str, str], Manifest] = {}
        self.pods: list[PodTemplate] = []
        for manifest in stack.objects:
            self.by_kind[(manifest.kind, _namespace(manifest), manifest.name)] = manifest
            for _path, metadata, spec in pod_specs(manifest):
                labels = dict(metadata.get("labels") or {})
                self.pods.append(PodTemplate(manifest, _namespace(manifest), labels, spec))

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        return self.by_kind.get((kind, namespace, name))

    def of_kind(self, kind: str) -> Iterator[Manifest]:
        return (m for (k, _, _), m in self.by_kind.items() if k == kind)

    def pods_for(self, namespace: str, selector: Mapping[str, Any]) -> list[PodTemplate]:
        return [
            pod
            for pod in self.pods
            if pod.namespace == namespace and selector_matches(selector, pod.labels)
        ]

    def keys(self, kind: str, namespace: str, name: str) -> frozenset[str] | None:
        found = self.get(kind, namespace, name)
        if found is None and kind == "Secret":
            return self._external_secret_keys(namespace, name)
        if found is None:
            return None
        body = found.body
        return frozenset(
            {
                *(body.get("data") or {}),
                *(body.get("stringData") or {}),
                *(body.get("binaryData") or {}),
            }
        )

    def _external_secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        """The keys of a Secret an ExternalSecret of the stack writes (External Secrets Operator):
        its ``data`` keys, or any key when ``dataFrom`` takes whole store entries."""
        for external in self.of_kind("ExternalSecret"):
            spec = external.body.get("spec") or {}
            target = (spec.get("target") or {}).get("name") or external.name
            if _namespace(external) != namespace or target != name:
                continue
            if spec.get("dataFrom"):
                return _AnyKeys()
            return frozenset(str(item.get("secretKey")) for item in spec.get("data") or [])
        return None


class _AnyKeys(frozenset[str]):
    """Keys known only to a secret store: every key may be there."""

    def __contains__(self, key: object) -> bool:
        return True


def _check_services(index: _Index, result: CheckResult) -> None:
    for service in index.of_kind("Service"):
        selector = (service.body.get("spec") or {}).get("selector")
        if not selector:
            continue
        result.runs += 1
        pods = index.pods_for(_namespace(service), {"matchLabels": selector})
        if not pods:
            result.fail(service.label, f"selector {selector} matches no pod template")
            continue
        for port in (service.body.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if isinstance(target, str) and not any(target in p.port_names for p in pods):
                result.fail(service.label, f"targetPort {target!r} is not a named container port")
            if isinstance(target, int) and not any(target in p.port_numbers for p in pods):
                result.fail(service.label, f"targetPort {target} is not a declared containerPort")


def _check_service_monitors(index: _Index, result: CheckResult) -> None:
    for monitor in index.of_kind("ServiceMonitor"):
        result.runs += 1
        spec = monitor.body.get("spec") or {}
        namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [
            _namespace(monitor)
        ]
        services = [
            service
            for service in index.of_kind("Service")
            if _namespace(service) in namespaces
            and selector_matches(spec.get("selector") or {}, _labels(service))
        ]
        if not services:
            result.fail(monitor.label, "selector matches no Service in the stack")
            continue
        names = {
            str(p.get("name"))
            for s in services
            for p in (s.body.get("spec") or {}).get("ports") or []
        }
        for endpoint in spec.get("endpoints") or []:
            port = endpoint.get("port")
            if port is not None and port not in names:
                result.fail(monitor.label, f"endpoint port {port!r} is not a port of its Services")
            # Prometheus scrapes each selected Service's endpoints: two Services over the same
            # pods with the port means every pod is scraped (and counted) twice.
            scraped = sorted(
                _name(s)
                for s in services
                if any(p.get("name") == port for p in (s.body.get("spec") or {}).get("ports") or [])
            )
            if port is not None and len(scraped) > 1:
                result.fail(
                    monitor.label,
                    f"endpoint port {port!r} is scraped through {len(scraped)} Services "
                    f"({', '.join(scraped)}): every pod twice; keep one out of the selector",
                )


def _check_targets(index: _Index, result: CheckResult) -> None:
    scaled: set[tuple[str, str, str]] = set()
    for kind, field in (
        ("HorizontalPodAutoscaler", "scaleTargetRef"),
        ("ScaledObject", "scaleTargetRef"),
        ("VerticalPodAutoscaler", "targetRef"),
    ):
        for autoscaler in index.of_kind(kind):
            result.runs += 1
            target = (autoscaler.body.get("spec") or {}).get(field) or {}
            key = (str(target.get("kind")), _namespace(autoscaler), str(target.get("name")))
            if index.get(*key) is None:
                result.fail(autoscaler.label, f"{field} {key[0]}/{key[2]} is not in the stack")
            elif kind != "VerticalPodAutoscaler":
                scaled.add(key)
    for key in sorted(scaled):
        workload = index.get(*key)
        if workload is not None and "replicas" in (workload.body.get("spec") or {}):
            result.fail(
                workload.label,
                "sets spec.replicas although an HPA owns it (server-side apply conflict; a KEDA "
                "ScaledObject's HPA too)",
            )
    for budget in index.of_kind("PodDisruptionBudget"):
        result.runs += 1
        selector = (budget.body.get("spec") or {}).get("selector") or {}
        if not index.pods_for(_namespace(budget), selector):
            result.fail(budget.label, "selector matches no pod template")


def _check_network_policies(index: _Index, result: CheckResult) -> None:
    for policy in index.of_kind("NetworkPolicy"):
        result.runs += 1
        spec = policy.body.get("spec") or {}
        selector = spec.get("podSelector") or {}
        pods = index.pods_for(_namespace(policy), selector)
        if selector and not pods:
            result.fail(policy.label, "podSelector matches no pod template")
            continue
        for rule in spec.get("ingress") or []:
            for port in rule.get("ports") or []:
                name = port.get("port")
                if isinstance(name, str) and pods and not any(name in p.port_names for p in pods):
                    result.fail(policy.label, f"ingress port {name!r} is no named container port")


def _service_port_exists(service: Manifest, port: Mapping[str, Any]) -> bool:
    ports = (service.body.get("spec") or {}).get("ports") or []
    if "number" in port:
        return any(p.get("port") == port["number"] for p in ports)
    if "name" in port:
        return any(p.get("name") == port["name"] for p in ports)
    return False


def _check_routes(index: _Index, result: CheckResult) -> None:
    for ingress in index.of_kind("Ingress"):
        result.runs += 1
        for rule in (ingress.body.get("spec") or {}).get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = (path.get("backend") or {}).get("service") or {}
                service = index.get("Service", _namespace(ingress), str(backend.get("name")))
                if service is None:
                    result.fail(ingress.label, f"backend Service {backend.get('name')} is missing")
                elif not _service_port_exists(service, backend.get("port") or {}):
                    result.fail(ingress.label, f"backend port {backend.get('port')} is not served")
    for route in index.of_kind("HTTPRoute"):
        result.runs += 1
        for rule in (route.body.get("spec") or {}).get("rules") or []:
            for backend in rule.get("backendRefs") or []:
                if backend.get("kind", "Service") != "Service" or backend.get("group", "") != "":
                    continue
                namespace = str(backend.get("namespace") or _namespace(route))
                service = index.get("Service", namespace, str(backend.get("name")))
                if service is None:
                    result.fail(route.label, f"backend Service {backend.get('name')} is missing")
                elif not _service_port_exists(service, {"number": backend.get("port")}):
                    result.fail(route.label, f"backend port {backend.get('port')} is not served")


def _volume_problems(index: _Index, pod: PodTemplate) -> Iterator[str]:
    for volume in pod.spec.get("volumes") or []:
        for kind, source_field, name_field in (
            ("ConfigMap", "configMap", "name"),
            ("Secret", "secret", "secretName"),
        ):
            source = volume.get(source_field)
            if not source or source.get("optional"):
                continue
            where = f"volume {volume.get('name')}: {kind} {source.get(name_field)}"
            keys = index.keys(kind, pod.namespace, str(source.get(name_field)))
            if keys is None:
                yield f"{where} is missing"
                continue
            for item in source.get("items") or []:
                if item.get("key") not in keys:
                    yield f"{where} has no key {item.get('key')!r}"


def _pull_secret_problems(index: _Index, pod: PodTemplate) -> Iterator[str]:
    for ref in pod.spec.get("imagePullSecrets") or []:
        secret = index.get("Secret", pod.namespace, str(ref.get("name")))
        where = f"imagePullSecrets: Secret {ref.get('name')}"
        if secret is None:
            yield f"{where} is missing"
        elif secret.body.get("type") != "kubernetes.io/dockerconfigjson":
            yield f"{where} is not of type kubernetes.io/dockerconfigjson"


def _env_problems(index: _Index, pod: PodTemplate) -> Iterator[str]:
    for container in pod.containers:
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            for kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                ref = value_from.get(field)
                if not ref or ref.get("optional"):
                    continue
                where = f"env {env.get('name')}: {kind} {ref.get('name')}"
                keys = index.keys(kind, pod.namespace, str(ref.get("name")))
                if keys is None:
                    yield f"{where} is missing"
                elif ref.get("key") not in keys:
                    yield f"{where} has no key {ref.get('key')!r}"
        for source in container.get("envFrom") or []:
            for kind, field in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                ref = source.get(field)
                if not ref or ref.get("optional"):
                    continue
                if index.get(kind, pod.namespace, str(ref.get("name"))) is None:
                    yield f"envFrom: {kind} {ref.get('name')} is missing"


def _check_pod_references(index: _Index, result: CheckResult) -> None:
    for pod in index.pods:
        result.runs += 1
        account = pod.spec.get("serviceAccountName")
        if (
            account
            and account != "default"
            and not index.get("ServiceAccount", pod.namespace, account)
        ):
            result.fail(pod.owner.label, f"serviceAccountName {account} is not in the stack")
        for problem in [
            *_volume_problems(index, pod),
            *_env_problems(index, pod),
            *_pull_secret_problems(index, pod),
        ]:
            result.fail(pod.owner.label, problem)


def check_references(stack: Stack, result: CheckResult) -> None:
    index = _Index(stack)
    _check_services(index, result)
    _check_service_monitors(index, result)
    _check_targets(index, result)
    _check_routes(index, result)
    _check_network_policies(index, result)
    _check_pod_references(index, result)
