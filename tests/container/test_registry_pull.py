"""The pull Secret the Pulumi program renders is a working credential for a real registry.

A real registry (Debian's ``docker-registry``, CNCF distribution) on 127.0.0.1 with htpasswd
auth holds the built image; podman pulls it with the Secret's ``.dockerconfigjson`` as its auth
file (the same format the kubelet reads) and is refused without it. A kubelet is not involved."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components.conftest import config_with
from tools.render_manifests import PLACEHOLDER_SECRETS, run_program

from .conftest import IMAGE_TAG, BuiltImage, Engine

pytestmark = pytest.mark.container

USERNAME = "deployer"
PASSWORD = "registry-password-0123456789"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/system-deps.sh installs it)")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _registry(directory: Path) -> Iterator[str]:
    registry, htpasswd = _tool("docker-registry"), _tool("htpasswd")
    subprocess.run(
        [htpasswd, "-Bbc", str(directory / "htpasswd"), USERNAME, PASSWORD],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    config = {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
        "auth": {"htpasswd": {"realm": "agentsmcp-test", "path": str(directory / "htpasswd")}},
    }
    (directory / "config.yml").write_text(json.dumps(config))
    log = (directory / "registry.log").open("w")
    process = subprocess.Popen(
        [registry, "serve", str(directory / "config.yml")], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert process.poll() is None, (directory / "registry.log").read_text()
            assert time.monotonic() < deadline, "the registry did not listen within 20 s"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_the_rendered_pull_secret_pulls_from_a_private_registry(
    engine: Engine, built_image: BuiltImage, tmp_path: Path
) -> None:
    podman = _tool("podman")
    env = dict(os.environ)
    if Path("/etc/agentsmcp/containers.conf").is_file():
        env.setdefault("CONTAINERS_CONF", "/etc/agentsmcp/containers.conf")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [podman, *args], env=env, capture_output=True, text=True, timeout=300, check=check
        )

    with _registry(tmp_path) as server:
        image = {
            "repository": f"{server}/team/agentsmcp",
            "registry": {"server": server, "username": USERNAME},
        }
        program = run_program(
            "staging",
            config=config_with("staging", image=image),
            secrets={**PLACEHOLDER_SECRETS, "registryPassword": PASSWORD},
        )
        (pull_secret,) = [
            r.inputs
            for r in program.of_type("kubernetes:core/v1:Secret")
            if r.inputs["type"] == "kubernetes.io/dockerconfigjson"
        ]
        authfile = tmp_path / "auth.json"
        authfile.write_text(pull_secret["stringData"]["value"][".dockerconfigjson"])
        empty = tmp_path / "empty.json"
        empty.write_text('{"auths": {}}')

        if not engine.is_podman:  # the image is in a Docker daemon's store: copy it over
            run("pull", "--quiet", f"docker-daemon:{IMAGE_TAG}")
        target = f"{server}/team/agentsmcp:pull-test"
        run("push", "--quiet", "--tls-verify=false", "--authfile", str(authfile), IMAGE_TAG, target)
        try:
            refused = run(
                "pull", "--tls-verify=false", "--authfile", str(empty), target, check=False
            )
            assert refused.returncode != 0
            assert "unauthorized" in refused.stderr.lower() or "401" in refused.stderr
            pulled = run(
                "pull", "--quiet", "--tls-verify=false", "--authfile", str(authfile), target,
                check=False,
            )  # fmt: skip
            assert pulled.returncode == 0, pulled.stderr
        finally:
            run("rmi", "--ignore", target, check=False)
