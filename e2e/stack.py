"""Drive the real Pulumi engine (our built ``pulumi`` CLI and ``pulumi-resource-kubernetes``) on the
real program against the e2e control plane, fully offline.

The Python language host (``pulumi-language-python``) is not served by the Go module proxy, so the
program runs as an Automation API *inline* program: the CLI's engine talks to the Python SDK's own
language server (``pulumi.automation``) instead of launching the host. Everything after that, the
engine, state, diffs, secrets encryption, the provider's server-side apply and awaits, is the real
thing. State lives in a file backend under the work directory, encrypted with a passphrase.

The stack configuration is the repository's ``Pulumi.<stack>.yaml`` copied into a temporary project
with overrides (`e2e_config`): the image as ``image.ref`` (no Docker build here), no reference to
the cluster stack (its add-ons need Internet chart repositories), the kubeconfig of the e2e cluster.
"""

from __future__ import annotations

import json
import os
import runpy
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from components.stack_file import stack_config, with_overrides
from e2e.binaries import PULUMI, ROOT, TOOLS_BIN, require

PROJECT = "agentsmcp"
NAMESPACE = "agentsmcp"
# kwok never pulls images; any digest-pinned reference is what `image.ref` accepts.
IMAGE_REF = "registry.e2e.invalid/agentsmcp@sha256:" + "e2" * 32
SECRET_KEYS = ("openaiApiKey", "anthropicApiKey", "jwtSecretKey")
# A bearer tool server in the config: its token is set the way docs/stack-config.md says,
# `pulumi config set --secret --path 'toolServerTokens.<name>'`, so the real CLI's handling of a
# secret set by path is what the program reads.
TOOL_SERVER = "search"
TOOL_SERVER_TOKEN_PATH = f"toolServerTokens.{TOOL_SERVER}"


def e2e_config(stack: str, kubeconfig: Path, overrides: Mapping[str, Any] = {}) -> dict[str, Any]:
    """The stack file's config with the e2e overrides; keys keep their ``agentsmcp:`` prefix.

    The cluster-stack reference is dropped (the app then uses its own config or defaults), and a
    gateway exposure without a named Gateway gets one (an HTTPRoute's parent need not exist)."""
    config = stack_config(stack)
    config[f"{NAMESPACE}:image"] = {"ref": IMAGE_REF}
    config[f"{NAMESPACE}:kubernetes"] = {"kubeconfig": str(kubeconfig)}
    # A reference to a separately deployed cluster-level stack (add-ons) is dropped: the app then
    # takes the cluster facts from its own config or defaults, and needs no other stack.
    config.pop(f"{NAMESPACE}:cluster", None)
    exposure = config.get(f"{NAMESPACE}:exposure")
    gateway_mode = isinstance(exposure, dict) and exposure.get("mode") == "gateway"
    if gateway_mode and isinstance(exposure, dict) and "gateway" not in exposure:
        # The Gateway the cluster stack would name; an HTTPRoute's parent need not exist.
        config[f"{NAMESPACE}:exposure"] = {
            **exposure,
            "gateway": {"name": "e2e-gateway", "namespace": "e2e-gateway"},
        }
    server_config = dict(config[f"{NAMESPACE}:serverConfig"])
    server_config["tool_servers"] = {
        TOOL_SERVER: {"url": "http://search.e2e-tools.svc:8080/mcp", "auth": "bearer"}
    }
    config[f"{NAMESPACE}:serverConfig"] = server_config
    return with_overrides(config, overrides)


def new_secrets() -> dict[str, str]:
    """Distinct, recognisable secret values, so a leak into state or objects can be searched for."""
    return {
        key: f"e2e-{key}-{secrets.token_hex(16)}" for key in (*SECRET_KEYS, TOOL_SERVER_TOKEN_PATH)
    }


def nested_secrets(secret_values: Mapping[str, str]) -> dict[str, Any]:
    """The secrets as the program reads them: a value set by path (``a.b``) inside its object."""
    nested: dict[str, Any] = {}
    for key, value in secret_values.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            nested[key] = value
    return nested


def predict(stack: str, config: Mapping[str, Any], secret_values: Mapping[str, str]) -> list[Any]:
    """The objects the offline render predicts for this config (run in a fresh interpreter, since
    the render's mocks and the inline program share the Pulumi runtime's globals)."""
    script = (
        "import json, sys\n"
        "from tools.render_manifests import clean, run_program\n"
        "args = json.load(sys.stdin)\n"
        "run = run_program(args['stack'], config=args['config'], secrets=args['secrets'])\n"
        "docs = [clean(r.inputs) for r in run.kubernetes_objects"
        " if r.type != 'pulumi:providers:kubernetes']\n"
        "json.dump(docs, sys.stdout)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(
            {"stack": stack, "config": dict(config), "secrets": nested_secrets(secret_values)}
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    docs: list[Any] = json.loads(result.stdout)
    return docs


def _program() -> None:
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


@dataclass
class E2EStack:
    """One stack of the real program in a temporary project directory."""

    name: str
    workdir: Path
    kubeconfig: Path
    config: dict[str, Any]
    secret_values: dict[str, str]
    stack: auto.Stack

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    def state_text(self) -> str:
        """Every file the file backend wrote (checkpoints, backups, history), as text."""
        return "\n".join(
            path.read_text(errors="replace") for path in self.state_dir.rglob("*") if path.is_file()
        )


def pulumi_env(workdir: Path, kubeconfig: Path) -> dict[str, str]:
    return {
        "PULUMI_HOME": str(workdir / "home"),
        "PULUMI_BACKEND_URL": f"file://{workdir / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "e2e-passphrase",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        "KUBECONFIG": str(kubeconfig),
        "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def create_stack(
    name: str,
    workdir: Path,
    kubeconfig: Path,
    overrides: Mapping[str, Any] = {},
) -> E2EStack:
    require(*PULUMI)
    project = workdir / "project"
    project.mkdir(parents=True)
    (workdir / "state").mkdir()
    (workdir / "home").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    config = e2e_config(name, kubeconfig, overrides)
    (project / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    env = pulumi_env(workdir, kubeconfig)
    command = auto.PulumiCommand(root=str(TOOLS_BIN.parent), skip_version_check=True)
    stack = auto.create_stack(
        name,
        project_name=PROJECT,
        program=_program,
        opts=auto.LocalWorkspaceOptions(
            work_dir=str(project),
            env_vars=env,
            pulumi_command=command,
            secrets_provider="passphrase",
        ),
    )
    secret_values = new_secrets()
    stack.set_all_config(
        {
            f"{NAMESPACE}:{key}": auto.ConfigValue(value=value, secret=True)
            for key, value in secret_values.items()
        },
        path=True,
    )
    return E2EStack(name, workdir, kubeconfig, config, secret_values, stack)
