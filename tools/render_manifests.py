"""Offline render: run the real ``__main__.py`` under Pulumi mocks and write what it creates.

    python -m tools.render_manifests --stack dev --out build/manifests/dev
    python -m tools.render_manifests --project cluster --stack local \\
        --out build/manifests/cluster-local

Output contract (``make validate`` builds on it):

- ``<out>/<kind>-<namespace>-<name>.yaml``: one file per Kubernetes object, lowercase;
  cluster-scoped objects are ``<kind>-<name>.yaml``. Each holds exactly one object (apiVersion,
  kind, metadata, and spec/data/... as the program sets them), keys sorted.
- ``<out>/helm/<namespace>-<release>.yaml``: one summary per Helm release (``release``, ``chart``,
  ``repo``, ``version``, ``namespace``, ``values``); not Kubernetes objects.
- Nothing else is written but a ``.rendered`` marker; a re-render first deletes the ``*.yaml``
  files of the earlier one, and a non-empty directory without the marker is refused.
- Whole numbers are integers again (the mocks hand numbers over as floats), every secret value is
  the string ``REDACTED``, and the bytes are identical from run to run for the same commit.

The config comes from ``Pulumi.<stack>.yaml`` (``cluster/Pulumi.<stack>.yaml`` for the cluster
project); secrets get fixed placeholder values. An app stack's ``pulumi.StackReference`` to the
cluster stack answers with the outputs of that cluster stack, rendered the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import runpy
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import set_root_resource

from components._pulumi_wire import SECRET_SIG as SECRET_SIG
from components._pulumi_wire import SIG_KEY as SIG_KEY
from components.cluster_config import CLUSTER_NAMESPACE
from components.config import NAMESPACE, SECRET_KEYS, TOOL_SERVER_TOKENS_KEY
from components.stack_file import stack_config

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Project:
    name: str
    root: Path
    namespace: str
    secret_keys: tuple[str, ...]

    @property
    def program(self) -> Path:
        return self.root / "__main__.py"


APP = Project("agentsmcp", ROOT, NAMESPACE, SECRET_KEYS)
CLUSTER = Project("agentsmcp-cluster", ROOT / "cluster", CLUSTER_NAMESPACE, ())
PROJECTS = {"app": APP, "cluster": CLUSTER}
PROGRAM = APP.program
PROJECT = APP.name
STACK_REFERENCE = "pulumi:pulumi:StackReference"
REDACTED = "REDACTED"
PLACEHOLDER_SECRETS = {
    key: f"placeholder-{key}-0123456789abcdef0123456789abcdef"
    for key in SECRET_KEYS
    # Set only during a key rotation; toolServerTokens: one per bearer tool server (below).
    if key not in ("jwtPreviousSecretKey", TOOL_SERVER_TOKENS_KEY)
}
FAKE_DIGEST = "sha256:" + "0" * 64
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
PROVIDER_TYPE = "pulumi:providers:kubernetes"
# Marks a directory as render output, so a re-render may delete the YAML files it finds there.
RENDER_MARKER = ".rendered"


@dataclass
class Registration:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str | None
    custom: bool
    urn: str = ""
    dependencies: tuple[str, ...] = ()


@dataclass
class ProgramRun:
    stack: str
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_token: str) -> list[Registration]:
        return [reg for reg in self.registrations if reg.type == type_token]

    @property
    def kubernetes_objects(self) -> list[Registration]:
        return [
            reg
            for reg in self.registrations
            if reg.custom and reg.type.startswith("kubernetes:") and reg.type != HELM_RELEASE
        ]


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, run: ProgramRun, references: Mapping[str, dict[str, Any]]) -> None:
        self.run = run
        self.references = references

    def _stack_reference(self, name: str) -> dict[str, Any]:
        if name not in self.references:
            raise ValueError(f"render: cannot resolve StackReference {name!r}")
        return {"name": name, "outputs": self.references[name], "secretOutputNames": []}

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        self.run.registrations.append(
            Registration(args.typ, args.name, args.inputs, args.provider, bool(args.custom))
        )
        outputs = dict(args.inputs)
        if args.typ == STACK_REFERENCE:
            outputs = self._stack_reference(str(args.inputs.get("name") or args.name))
        elif args.typ == "docker:index/image:Image":
            outputs["repoDigest"] = (
                f"{str(args.inputs['imageName']).rsplit(':', 1)[0]}@{FAKE_DIGEST}"
            )
        elif args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "generated-" + "0" * 54
        return f"{args.name}-id", outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(MockMonitor):
    """Records the stack's outputs as sent on the wire, where secrets are still marked."""

    def __init__(self, mocks: _RecordingMocks) -> None:
        super().__init__(mocks)
        self.run = mocks.run

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        for reg in reversed(self.run.registrations):
            if reg.type == request.type and reg.name == request.name and not reg.urn:
                reg.urn = response.urn
                reg.dependencies = tuple(sorted(request.dependencies))
                break
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if "::pulumi:pulumi:Stack::" in request.urn:
            wire = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
            for key, value in wire.items():
                if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
                    self.run.secret_outputs.add(key)
                    value = value.get("value")
                self.run.outputs[key] = value
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def _wire_value(value: Any) -> str:
    # The CLI hands the program structured values as JSON and scalars as their text.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def placeholder_tool_server_tokens(settings: Mapping[str, Any]) -> dict[str, str]:
    """A placeholder token for each tool server of ``serverConfig`` with auth bearer."""
    server_config = settings.get(f"{NAMESPACE}:serverConfig")
    servers = server_config.get("tool_servers") if isinstance(server_config, dict) else None
    return {
        name: f"placeholder-{TOOL_SERVER_TOKENS_KEY}-{name}-0123456789abcdef0123456789abcdef"
        for name, server in (servers.items() if isinstance(servers, dict) else ())
        if isinstance(server, dict) and server.get("auth") == "bearer"
    }


def run_program(
    stack: str,
    *,
    preview: bool = False,
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    project: Project = APP,
    cluster_config: Mapping[str, Any] | None = None,
) -> ProgramRun:
    """Run ``project``'s ``__main__.py`` for ``stack`` under mocks; return every registration.

    ``config`` replaces the stack file's config (keys with the ``agentsmcp:`` prefix); ``secrets``
    replaces the placeholder secrets (keys without prefix; a missing key stays unset);
    ``cluster_config`` is merged over the config of the cluster stack an app stack references.
    """
    settings = dict(stack_config(stack, project.root) if config is None else config)
    placeholders: dict[str, Any] = {
        k: v for k, v in PLACEHOLDER_SECRETS.items() if k in project.secret_keys
    }
    if project == APP and (tokens := placeholder_tool_server_tokens(settings)):
        placeholders[TOOL_SERVER_TOKENS_KEY] = tokens
    secret_values = placeholders if secrets is None else secrets
    for key, value in secret_values.items():
        settings[f"{project.namespace}:{key}"] = value
    wire = {key: _wire_value(value) for key, value in settings.items()}
    references = (
        _cluster_outputs(settings.get(f"{NAMESPACE}:cluster"), cluster_config or {})
        if project == APP
        else {}
    )
    run = ProgramRun(stack)
    # Each run gets its own event loop: the Pulumi runtime needs one on this thread, and callers
    # (pytest-asyncio, for one) may have left none.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        _run_in_loop(loop, run, project, stack, preview, wire, list(secret_values), references)
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()
    return run


def _cluster_outputs(cluster: Any, overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{reference: outputs}`` for the app's ``cluster.stack``, rendered before the app runs."""
    if isinstance(cluster, str):
        try:
            cluster = json.loads(cluster)
        except json.JSONDecodeError:
            return {}
    name = cluster.get("stack") if isinstance(cluster, dict) else None
    if not isinstance(name, str):
        return {}
    parts = name.split("/")
    if len(parts) != 3 or parts[1] != CLUSTER.name:
        return {}
    config = {**stack_config(parts[2], CLUSTER.root), **overrides}
    return {name: clean(run_program(parts[2], project=CLUSTER, config=config).outputs)}


def _run_in_loop(
    loop: asyncio.AbstractEventLoop,
    run: ProgramRun,
    project: Project,
    stack: str,
    preview: bool,
    wire: dict[str, str],
    secret_keys: list[str],
    references: Mapping[str, dict[str, Any]],
) -> None:
    mocks = _RecordingMocks(run, references)
    pulumi.runtime.set_all_config(
        wire, secret_keys=[f"{project.namespace}:{key}" for key in secret_keys]
    )
    pulumi.runtime.set_mocks(
        mocks, project=project.name, stack=stack, preview=preview, monitor=_RecordingMonitor(mocks)
    )
    # set_mocks made a root stack of its own; run_in_stack (what `pulumi up` and the Automation
    # API use) makes the program's, which registers the stack outputs when the program ends.
    set_root_resource(None)  # type: ignore[arg-type]
    with _cli_config_env(wire):
        loop.run_until_complete(pulumi.runtime.run_in_stack(lambda: _program(project.program)))


def _program(path: Path) -> None:
    runpy.run_path(str(path), run_name="__main__")


@contextlib.contextmanager
def _cli_config_env(wire: dict[str, str]) -> Iterator[None]:
    """PULUMI_CONFIG as the Pulumi CLI's language host sets it, so the program reads its config
    (unknown keys included) exactly as under `pulumi preview`."""
    previous = os.environ.get("PULUMI_CONFIG")
    os.environ["PULUMI_CONFIG"] = json.dumps(wire)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PULUMI_CONFIG", None)
        else:
            os.environ["PULUMI_CONFIG"] = previous


# --- rendering -----------------------------------------------------------------------------


def clean(value: Any) -> Any:
    """Restore integers, replace secret values by REDACTED, drop unset (None) fields."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            inner = value.get("value")
            # A secret map keeps its keys (e.g. a Secret's stringData) so it stays schema-valid.
            if isinstance(inner, dict):
                return dict.fromkeys(inner, REDACTED)
            return REDACTED
        return {key: clean(child) for key, child in value.items() if child is not None}
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _filename(kind: str, namespace: str | None, name: str) -> str:
    parts = [kind, namespace, name] if namespace else [kind, name]
    return "-".join(part.lower() for part in parts) + ".yaml"


def _dump(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=100)


def render_documents(run: ProgramRun) -> dict[str, str]:
    """``{relative path: YAML text}`` for every Kubernetes object and Helm release."""
    files: dict[str, str] = {}
    for reg in run.registrations:
        if reg.type == HELM_RELEASE:
            inputs = clean(reg.inputs)
            chart, repo = inputs.get("chart"), (inputs.get("repositoryOpts") or {}).get("repo")
            if isinstance(chart, str) and chart.startswith("oci://"):
                repo, _, chart = chart.rpartition("/")
            summary = {
                "release": inputs.get("name"),
                "chart": chart,
                "repo": repo,
                "version": inputs.get("version"),
                "namespace": inputs.get("namespace"),
                "values": inputs.get("values") or {},
            }
            files[f"helm/{summary['namespace']}-{summary['release']}.yaml"] = _dump(summary)
    for reg in run.kubernetes_objects:
        if reg.type == PROVIDER_TYPE:
            continue
        document = clean(reg.inputs)
        metadata = document.get("metadata") or {}
        name = metadata.get("name")
        if not isinstance(name, str) or "kind" not in document:
            raise ValueError(f"{reg.type} {reg.name}: metadata.name must be set explicitly")
        path = _filename(document["kind"], metadata.get("namespace"), name)
        if path in files:
            raise ValueError(f"two objects render to {path}")
        files[path] = _dump(document)
    return dict(sorted(files.items()))


class RenderError(Exception):
    """The output directory cannot be used."""


def render_stack(
    stack: str,
    out: Path,
    project: Project = APP,
    config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    cluster_config: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Render ``stack`` into ``out``, replacing an earlier render there (and nothing else).
    ``config``, ``secrets`` and ``cluster_config`` as in :func:`run_program`."""
    run = run_program(
        stack, project=project, config=config, secrets=secrets, cluster_config=cluster_config
    )
    files = render_documents(run)
    marker = out / RENDER_MARKER
    if out.exists() and any(out.iterdir()) and not marker.exists():
        raise RenderError(f"{out} is not empty and holds no earlier render; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*.yaml"), *out.glob("helm/*.yaml")]:
        stale.unlink()
    marker.write_text(f"rendered by tools.render_manifests for stack {stack}\n", encoding="utf-8")
    written = []
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--project", choices=sorted(PROJECTS), default="app", help="app (.) or cluster (cluster/)"
    )
    options = parser.parse_args(argv)
    try:
        written = render_stack(options.stack, options.out, PROJECTS[options.project])
    except (pulumi.RunError, RenderError) as exc:
        print(f"render {options.stack}: {exc}", file=sys.stderr)
        return 2
    print(f"render {options.stack}: {len(written)} files in {options.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
