"""The rendered prod Deployment, Secret and ConfigMap, run by ``podman kube play`` on the built
image: the Secret volume, ``AGENTSMCP_SECRETS_DIR``, the security context and the probes' paths
as the Pulumi program writes them, with no hand-written container options in between.

podman is not a kubelet (it ignores ``defaultMode``, ``imagePullSecrets`` and the probes, and
does not update a played Secret), so this proves the pod spec and the image agree, not the
cluster's behaviour."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.render_manifests import render_documents, run_program

from .conftest import IMAGE_TAG, BuiltImage, Engine

pytestmark = pytest.mark.container

SECRET_VALUES = {
    "JWT_SECRET_KEY": "kube-play-secret-" + "k" * 40,
    "OPENAI_API_KEY": "sk-kube-play",
    "ANTHROPIC_API_KEY": "sk-ant-kube-play",
}
# Runs inside the pod: the secret files, readiness, and a token signed with the mounted key.
CHECK = """
import os, sys, time, urllib.request
import jwt  # the image holds the server's runtime only: PyJWT, not the token CLI
directory = os.environ["AGENTSMCP_SECRETS_DIR"]
print(sorted(n for n in os.listdir(directory) if not n.startswith(".")))
urllib.request.urlopen("http://127.0.0.1:8000/health/ready", timeout=2)
key = open(os.path.join(directory, "JWT_SECRET_KEY")).read()
now = int(time.time())
claims = {"sub": "kube", "iss": "agentsmcp", "aud": "agentsmcp-api", "iat": now, "exp": now + 60}
token = jwt.encode(claims, key, algorithm="HS256")
request = urllib.request.Request(
    "http://127.0.0.1:8000/v1/models", headers={"Authorization": "Bearer " + token})
print(urllib.request.urlopen(request, timeout=5).status)
"""


def _podman() -> tuple[str, dict[str, str]]:
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is not installed (scripts/container-engine.sh installs it)")
    env = dict(os.environ)
    if Path("/etc/agentsmcp/containers.conf").is_file():
        env.setdefault("CONTAINERS_CONF", "/etc/agentsmcp/containers.conf")
    return podman, env


def _manifests(suffix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the Secret, [ConfigMap, Deployment]) of the prod render, renamed so that parallel runs
    cannot collide, the Secret holding real values and the Deployment running the built image."""
    files = render_documents(run_program("prod"))
    secret = yaml.safe_load(files["secret-agentsmcp-prod-agentsmcp-secrets.yaml"])
    # Named by its content: agentsmcp-config-<hash>.
    (config_file,) = (
        n for n in files if n.startswith("configmap-agentsmcp-prod-agentsmcp-config-")
    )
    config_map = yaml.safe_load(files[config_file])
    deployment = yaml.safe_load(files["deployment-agentsmcp-prod-agentsmcp.yaml"])
    secret.pop("stringData")
    secret["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in SECRET_VALUES.items()}
    secret["metadata"]["name"] = f"agentsmcp-secrets-{suffix}"
    config_map["metadata"]["name"] = f"agentsmcp-config-{suffix}"
    deployment["metadata"]["name"] = f"agentsmcp-{suffix}"
    deployment["spec"]["replicas"] = 1
    pod = deployment["spec"]["template"]["spec"]
    pod["containers"][0]["image"] = IMAGE_TAG
    for volume in pod["volumes"]:
        if "secret" in volume:
            volume["secret"]["secretName"] = secret["metadata"]["name"]
        if "configMap" in volume:
            volume["configMap"]["name"] = config_map["metadata"]["name"]
    for document in (secret, config_map, deployment):
        document["metadata"].pop("namespace", None)
    return secret, [config_map, deployment]


def test_rendered_deployment_runs_under_podman_kube_play(
    engine: Engine, built_image: BuiltImage, tmp_path: Path
) -> None:
    podman, env = _podman()

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [podman, *args], env=env, capture_output=True, text=True, timeout=180, check=check
        )

    if not engine.is_podman:  # the image is in a Docker daemon's store: copy it over
        run("pull", "--quiet", f"docker-daemon:{IMAGE_TAG}")
    suffix = uuid.uuid4().hex[:8]
    secret, rest = _manifests(suffix)
    secret_file, rest_file = tmp_path / "secret.yaml", tmp_path / "workload.yaml"
    secret_file.write_text(yaml.safe_dump(secret))
    rest_file.write_text(yaml.safe_dump_all(rest))
    try:
        # podman 4.3 needs the Secret played before the pod that mounts it.
        run("kube", "play", str(secret_file))
        network = ["--network", "slirp4netns"] if shutil.which("slirp4netns") else []
        played = run("kube", "play", *network, str(rest_file), check=False)
        assert played.returncode == 0, played.stderr
        # The pod is "<deployment>-pod-0" (podman 4.3) or "<deployment>-pod" (newer).
        names = run("ps", "--format", "{{.Names}}").stdout.split()
        (container,) = [
            n for n in names if n.startswith(f"agentsmcp-{suffix}-pod") and n.endswith("-agentsmcp")
        ]
        deadline = time.monotonic() + 60
        while True:
            result = run("exec", container, "python", "-c", CHECK, check=False)
            if result.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        logs = run("logs", container, check=False)
        assert result.returncode == 0, result.stderr + logs.stdout + logs.stderr
        assert result.stdout.split("\n")[:2] == [str(sorted(SECRET_VALUES)), "200"]
        inspect = run("inspect", container, "--format", "{{.Config.User}}").stdout.strip()
        assert inspect == "1000:1000"
    finally:
        run("kube", "down", str(rest_file), check=False)
        run("secret", "rm", secret["metadata"]["name"], check=False)
