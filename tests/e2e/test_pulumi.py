"""`pulumi up`, preview and destroy with the real engine and provider on the real control plane.

See e2e/stack.py for what is real (everything but the language host, which the module proxy does
not serve: the program runs as an Automation API inline program) and the config overrides.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pulumi import automation as auto

from e2e.controlplane import ControlPlane, IngressStatusPublisher
from e2e.stack import NAMESPACE, E2EStack, create_stack, predict

E2E_STACKS = ("dev", "prod")
# What a changed setting must do: the new level reaches the pods' env, nothing else changes.
CHANGED = ("agentsmcp:serverConfig.logging.level", "WARNING")
# The HPA controller's sync period (15 s) and kwok making the new pods ready, with room.
SETTLE_SECONDS = 90.0


@pytest.fixture(scope="module", params=E2E_STACKS)
def deployed(
    request: pytest.FixtureRequest,
    control_plane: ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[E2EStack, auto.UpResult]]:
    """The stack after its first `pulumi up`; destroyed and removed at the end of the module."""
    name = str(request.param)
    e2e = create_stack(name, tmp_path_factory.mktemp(f"pulumi-{name}"), control_plane.kubeconfig)
    log: list[str] = []
    with IngressStatusPublisher(control_plane) as ingress:
        try:
            result = e2e.stack.up(on_output=log.append, color="never")
        except auto.CommandError as exc:
            pytest.fail(f"pulumi up failed for {name}:\n{''.join(log)[-6000:]}\n{exc}")
        # The Ingress await only finished because its status was published, as a controller would.
        namespace = result.outputs["namespace"].value
        assert any(item.startswith(f"{namespace}/") for item in ingress.published) == bool(
            control_plane.get_json("ingress", "-n", namespace)["items"]
        )
        try:
            # up awaited the Deployment's rollout: a pod was available when it returned.
            deployment = control_plane.get_json("deployment", "agentsmcp", "-n", namespace)
            assert deployment["status"].get("availableReplicas", 0) >= 1, deployment["status"]
            control_plane.wait(
                "the Deployment at its HPA's minimum, every replica available",
                lambda: _settled(control_plane, namespace),
                SETTLE_SECONDS,
            )
            yield e2e, result
        finally:
            if e2e.stack.export_stack().deployment.get("resources"):
                e2e.stack.destroy(color="never")
            e2e.stack.workspace.remove_stack(name)


def _settled(control_plane: ControlPlane, namespace: str) -> bool:
    """Whether the Deployment has the replicas its HPA asks for (the program leaves `replicas`
    to the HPA, so the first up creates one and the HPA raises it at its next sync, up to 15 s
    later) and all of them are available."""
    deployment = control_plane.get_json("deployment", "agentsmcp", "-n", namespace)
    hpas = control_plane.get_json("hpa", "-n", namespace)["items"]
    floor = max((int(hpa["spec"].get("minReplicas", 1)) for hpa in hpas), default=1)
    wanted = int(deployment["spec"]["replicas"])
    return wanted >= floor and deployment["status"].get("availableReplicas") == wanted


def _live(cp: ControlPlane, doc: dict[str, Any]) -> dict[str, Any] | None:
    meta = doc["metadata"]
    kind = f"{doc['kind'].lower()}.{doc['apiVersion'].split('/')[0]}"
    if "/" not in doc["apiVersion"]:
        kind = doc["kind"].lower()
    args = ["get", kind, meta["name"], "-o", "json"]
    if meta.get("namespace"):
        args += ["-n", meta["namespace"]]
    result = cp.kubectl(*args, check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


_QUANTITY = re.compile(r"^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FACTORS = {
    None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6),
    "G": Decimal(10**9), "T": Decimal(10**12), "Ki": Decimal(2**10), "Mi": Decimal(2**20),
    "Gi": Decimal(2**30), "Ti": Decimal(2**40),
}  # fmt: skip


def _same(expected: Any, actual: Any) -> bool:
    if expected == actual:
        return True
    # The API server canonicalises quantities ("0.5" is stored as "500m").
    if isinstance(expected, str | int) and isinstance(actual, str | int):
        a, b = _QUANTITY.match(str(expected)), _QUANTITY.match(str(actual))
        if a and b:
            return Decimal(a[1]) * _FACTORS[a[2]] == Decimal(b[1]) * _FACTORS[b[2]]
    return False


def _missing(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Fields set in ``expected`` that ``actual`` lacks or holds with another value."""
    if actual is None and expected in (False, 0, "", [], {}):
        return []  # the API omits zero values (omitempty), so "unset" is what false looks like
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a mapping, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            problems += _missing(value, actual.get(key), f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        problems = []
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            problems += _missing(want, got, f"{path}[{i}]")
        return problems
    return [] if _same(expected, actual) else [f"{path}: expected {expected!r}, got {actual!r}"]


def test_up_succeeds(deployed: tuple[E2EStack, auto.UpResult]) -> None:
    _, result = deployed
    assert result.summary.result == "succeeded"
    assert result.summary.resource_changes is not None
    assert result.summary.resource_changes.get("create", 0) > 0


def test_every_predicted_object_exists_with_our_fields(
    deployed: tuple[E2EStack, auto.UpResult], control_plane: ControlPlane
) -> None:
    e2e, _ = deployed
    predicted = predict(e2e.name, e2e.config, e2e.secret_values)
    assert predicted
    problems: dict[str, list[str]] = {}
    for doc in predicted:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        live = _live(control_plane, doc)
        if live is None:
            problems[name] = ["missing"]
            continue
        if doc["kind"] == "Secret":
            # stringData is write-only and rendered REDACTED: the keys must arrive as data, and
            # the values must be exactly the configured secrets.
            data = live.get("data", {})
            decoded = {key: base64.b64decode(value).decode() for key, value in data.items()}
            if sorted(decoded) != sorted(doc["stringData"]):
                problems[name] = [f"data keys {sorted(decoded)} != {sorted(doc['stringData'])}"]
            if set(decoded.values()) != set(e2e.secret_values.values()):
                problems.setdefault(name, []).append("data values are not the configured secrets")
            doc = {key: value for key, value in doc.items() if key != "stringData"}
        found = _missing(doc, live)
        if found:
            problems.setdefault(name, []).extend(found)
    assert problems == {}


def test_deployment_is_available_on_kwok_nodes(
    deployed: tuple[E2EStack, auto.UpResult], control_plane: ControlPlane
) -> None:
    _, result = deployed
    namespace = result.outputs["namespace"].value
    deployment = control_plane.get_json("deployment", "agentsmcp", "-n", namespace)
    wanted = deployment["spec"]["replicas"]
    assert wanted >= 1
    assert deployment["status"].get("availableReplicas") == wanted
    selector = ",".join(
        f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
    )
    pods = control_plane.get_json("pods", "-n", namespace, "-l", selector)["items"]
    running = [pod for pod in pods if pod["status"].get("phase") == "Running"]
    assert len(running) == wanted
    assert all(pod["spec"]["nodeName"].startswith("kwok-node-") for pod in running)


def test_second_up_changes_nothing(deployed: tuple[E2EStack, auto.UpResult]) -> None:
    e2e, _ = deployed
    again = e2e.stack.up(color="never")
    assert set(again.summary.resource_changes or {}) == {"same"}
    e2e.stack.preview(expect_no_changes=True, color="never")


def test_changed_setting_shows_exactly_the_expected_diff(
    deployed: tuple[E2EStack, auto.UpResult],
) -> None:
    e2e, _ = deployed
    key, value = CHANGED
    before = e2e.stack.get_config(key, path=True)
    assert before.value != value
    events: list[auto.EngineEvent] = []
    lines: list[str] = []
    try:
        e2e.stack.set_config(key, auto.ConfigValue(value=value), path=True)
        preview = e2e.stack.preview(
            diff=True, color="never", on_event=events.append, on_output=lines.append
        )
    finally:
        e2e.stack.set_config(key, before, path=True)
    changes = {op: n for op, n in preview.change_summary.items() if op != "same"}
    updated = sorted(
        event.resource_pre_event.metadata.type
        for event in events
        if event.resource_pre_event is not None
        and event.resource_pre_event.metadata.op == auto.OpType.UPDATE
    )
    assert changes == {auto.OpType.UPDATE: 1}
    assert updated == ["kubernetes:apps/v1:Deployment"]
    assert f'"{before.value}" => "{value}"' in "".join(lines)


def test_no_secret_in_clear(
    deployed: tuple[E2EStack, auto.UpResult], control_plane: ControlPlane
) -> None:
    e2e, result = deployed
    namespace = result.outputs["namespace"].value
    needles = {
        form
        for value in e2e.secret_values.values()
        for form in (value, base64.b64encode(value.encode()).decode())
    }
    state = e2e.state_text()
    outputs = json.dumps({key: out.value for key, out in e2e.stack.outputs().items()})
    kinds = "all,configmaps,ingresses,networkpolicies,serviceaccounts,resourcequotas,limitranges"
    objects = control_plane.get_json(kinds, "-n", namespace)["items"]
    objects += control_plane.get_json("servicemonitors,prometheusrules", "-n", namespace)["items"]
    others = json.dumps(objects)
    secret = json.dumps(control_plane.get_json("secret", "agentsmcp-secrets", "-n", namespace))
    assert state
    assert objects
    for needle in needles:
        assert needle not in state
        assert needle not in outputs
        assert needle not in others
    # The check can fail: the Secret itself does hold every value (base64-encoded).
    for value in e2e.secret_values.values():
        assert base64.b64encode(value.encode()).decode() in secret


def _ops(events: list[auto.EngineEvent]) -> dict[str, auto.OpType]:
    """``{type::name: op}`` of every step the engine announced (same steps left out)."""
    return {
        f"{meta.type}::{meta.urn.rsplit('::', 1)[-1]}": meta.op
        for meta in (e.resource_pre_event.metadata for e in events if e.resource_pre_event)
        if meta.op != auto.OpType.SAME
    }


def test_setting_and_secret_change_rolls_without_replacing(
    deployed: tuple[E2EStack, auto.UpResult], control_plane: ControlPlane
) -> None:
    """A changed server setting and secret: a new ConfigMap, the Deployment and the Secret
    updated in place, a new ReplicaSet, the old ConfigMap deleted last; no replace anywhere."""
    e2e, result = deployed
    namespace = result.outputs["namespace"].value

    def get(*args: str) -> dict[str, Any]:
        return control_plane.get_json(*args, "-n", namespace)

    deployment = get("deployment", "agentsmcp")
    selector = ",".join(
        f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items()
    )
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    old_config_map = volumes["config"]["configMap"]["name"]
    old_secret = get("secret", "agentsmcp-secrets")
    old_sets = {rs["metadata"]["name"] for rs in get("replicasets", "-l", selector)["items"]}
    prompt_key = f"{NAMESPACE}:serverConfig.agents.coding.system_prompt"
    prompt = e2e.stack.get_config(prompt_key, path=True).value
    e2e.stack.set_config(prompt_key, auto.ConfigValue(value=prompt + " Be brief."), path=True)
    new_key = f"e2e-openaiApiKey-rotated-{secrets.token_hex(16)}"
    e2e.stack.set_config(
        f"{NAMESPACE}:openaiApiKey", auto.ConfigValue(value=new_key, secret=True), path=True
    )
    e2e.secret_values["openaiApiKey"] = new_key

    events: list[auto.EngineEvent] = []
    e2e.stack.preview(color="never", on_event=events.append)
    planned = _ops(events)
    assert not {auto.OpType.REPLACE, auto.OpType.CREATE_REPLACEMENT} & set(planned.values())
    config_maps = {k: op for k, op in planned.items() if "ConfigMap" in k}
    assert sorted(config_maps.values()) == [auto.OpType.CREATE, auto.OpType.DELETE]
    updated = sorted(k.split("::")[0] for k, op in planned.items() if op == auto.OpType.UPDATE)
    assert updated == ["kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Secret"]

    events.clear()
    applied = e2e.stack.up(color="never", on_event=events.append)
    assert applied.summary.result == "succeeded"
    assert _ops(events) == planned
    after = get("deployment", "agentsmcp")
    assert after["metadata"]["uid"] == deployment["metadata"]["uid"]
    assert after["metadata"]["generation"] > deployment["metadata"]["generation"]
    assert after["status"].get("updatedReplicas") == after["spec"]["replicas"]
    new_sets = {rs["metadata"]["name"] for rs in get("replicasets", "-l", selector)["items"]}
    assert new_sets - old_sets
    volumes = {v["name"]: v for v in after["spec"]["template"]["spec"]["volumes"]}
    new_config_map = volumes["config"]["configMap"]["name"]
    assert new_config_map != old_config_map
    assert "Be brief." in get("configmap", new_config_map)["data"]["config.yaml"]
    gone = control_plane.kubectl("get", "configmap", old_config_map, "-n", namespace, check=False)
    assert "NotFound" in gone.stderr
    secret = get("secret", "agentsmcp-secrets")
    assert secret["metadata"]["uid"] == old_secret["metadata"]["uid"]
    assert base64.b64decode(secret["data"]["OPENAI_API_KEY"]).decode() == new_key
    e2e.stack.preview(expect_no_changes=True, color="never")


def test_destroy_removes_everything(
    deployed: tuple[E2EStack, auto.UpResult], control_plane: ControlPlane
) -> None:
    e2e, result = deployed
    namespace = result.outputs["namespace"].value
    destroyed = e2e.stack.destroy(color="never")
    assert destroyed.summary.result == "succeeded"
    assert not e2e.stack.export_stack().deployment.get("resources")
    gone = control_plane.kubectl("get", "namespace", namespace, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr
