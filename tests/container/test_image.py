"""The image built from the real Dockerfile, run with the Deployment's security settings."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.oidc import ES256_CLIENT, RS256_CLIENT, OidcProvider

from .conftest import (
    DISCARD_PORT,
    IMAGE_VERSION,
    SECRETS,
    VCS_REF,
    BuiltImage,
    Engine,
    ServerFactory,
    deployment_volumes,
    kubernetes_like_options,
    normalize,
    pulumi_deployment,
    write_config_dir,
    write_secrets_dir,
)

pytestmark = pytest.mark.container

BUILD_INFO_PATH = "/usr/share/agentsmcp/build-info.json"

# Runs inside the image: what Python sees, and every file on disk whose name gives away a tool
# that must not ship (pip, Pulumi, test and lint tools, a shell, a package manager).
INSPECT_SCRIPT = r"""
import importlib.metadata, importlib.util, json, os, re, sys
forbidden = re.compile(
    r"^(pip|pip3(\.\d+)?|setuptools|_?pytest|pulumi[\w-]*|mypy|ruff|hypothesis|docker"
    r"|sh|bash|dash|apt|apt-get|dpkg)(-[\w.+]+\.(dist-info|egg-info))?$", re.IGNORECASE)
found = []
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "tmp")]
    found += [os.path.join(root, n) for n in dirs + files if forbidden.match(n)]
print(json.dumps({
    "executable": sys.executable,
    "interpreter": os.path.realpath(sys.executable),
    "distributions": sorted(d.metadata["Name"] for d in importlib.metadata.distributions()),
    "importable": {m: importlib.util.find_spec(m) is not None
                   for m in ("pip", "setuptools", "pulumi", "pulumi_kubernetes", "pytest",
                             "mypy", "hypothesis", "docker", "tests", "components", "bench")},
    "forbidden_files": sorted(found),
}))
"""


def run_once(engine: Engine, built_image: BuiltImage, *command: str) -> str:
    """Run ``python <command>`` in a throwaway container with the Deployment's settings."""
    container = engine.client.containers.run(
        built_image.image.id,
        entrypoint=["python", *command],
        detach=True,
        network_mode="none",
        **kubernetes_like_options(),
    )
    try:
        result = container.wait(timeout=120)
        logs = container.logs(stdout=True, stderr=True).decode()
        assert result["StatusCode"] == 0, logs
        return container.logs(stdout=True, stderr=False).decode()
    finally:
        container.remove(force=True)


# Runs inside the image: the server's own key handling verifies real provider tokens (RS256 and
# ES256 need cryptography's native code, which the distroless runtime must load).
VERIFY_PROVIDER_TOKENS = r"""
import json, sys, jwt
from app.oidc._keys import parse_key_set
data = json.loads(sys.argv[1])
keys = parse_key_set(data["jwks"], 0.0)
for token in data["tokens"]:
    header = jwt.get_unverified_header(token)
    key = keys.find(header["kid"], header["alg"])
    claims = jwt.decode(token, key, algorithms=[header["alg"]], audience=data["audience"],
                        issuer=data["issuer"])
    print(header["alg"], claims["sub"])
"""


def image_healthcheck(engine: Engine, built_image: BuiltImage) -> dict[str, Any]:
    healthcheck = built_image.image.attrs["Config"].get("Healthcheck")
    if healthcheck is None and engine.is_podman:
        # podman 4's Docker-compatible image inspect leaves it out; its own API has it.
        response = engine.libpod_get(f"/images/{built_image.image.id}/json")
        healthcheck = response.get("Healthcheck")
    return dict(healthcheck or {})


def test_ready_through_published_port(start_server: ServerFactory) -> None:
    server = start_server()

    status, body = server.get("/health/ready")
    assert status == 200
    assert json.loads(body) == {"status": "ready"}
    status, body = server.get("/health")
    assert status == 200
    assert json.loads(body)["status"] == "ok"
    # The image's C library and ctypes take the allocator's thresholds (app/allocator.py).
    started = [
        json.loads(line)
        for line in server.container.logs().decode(errors="replace").splitlines()
        if '"server started"' in line
    ]
    assert [line["malloc_thresholds_fixed"] for line in started] == [True], started


def test_server_process_is_uid_1000_without_privileges(start_server: ServerFactory) -> None:
    server = start_server()

    exit_code, output = server.container.exec_run(
        [
            "python",
            "-c",
            "print(open('/proc/1/status').read()); print(open('/proc/1/cmdline').read())",
        ]
    )
    assert exit_code == 0, output
    status = output.decode()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["Uid"].split() == ["1000"] * 4
    assert fields["Gid"].split() == ["1000"] * 4
    assert int(fields["CapEff"], 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"
    assert "app" in status.splitlines()[-1].split("\x00")  # PID 1 is `python -m app` itself

    exit_code, output = server.container.exec_run(
        ["python", "-c", "open('/opt/venv/written-at-runtime', 'w')"]
    )
    assert exit_code != 0
    assert b"Read-only file system" in output


def test_image_holds_only_the_runtime_requirements(engine: Engine, built_image: BuiltImage) -> None:
    report = json.loads(run_once(engine, built_image, "-c", INSPECT_SCRIPT))

    assert report["executable"] == "/opt/venv/bin/python"
    assert report["interpreter"].startswith("/usr/bin/python3")
    installed = {normalize(name) for name in report["distributions"]}
    assert installed == built_image.wheel_names
    assert not any(report["importable"].values()), report["importable"]
    assert report["forbidden_files"] == []


def test_healthcheck_passes_and_detects_a_dead_server(
    engine: Engine, built_image: BuiltImage, start_server: ServerFactory
) -> None:
    healthcheck = image_healthcheck(engine, built_image)
    assert healthcheck.get("Test", [])[:1] == ["CMD"], healthcheck  # exec form: no shell needed
    command = healthcheck["Test"][1:]
    assert command == ["python", "-m", "app.healthcheck"]
    server = start_server()

    exit_code, output = server.container.exec_run(command)
    assert exit_code == 0, output

    exit_code, output = server.container.exec_run([*command, "--port", "1"])
    assert exit_code == 1
    assert b"unhealthy: GET http://127.0.0.1:1/health/live failed" in output

    if engine.is_podman:
        # The engine's own health check run, with the image's HEALTHCHECK settings.
        result = engine.libpod_get(f"/containers/{server.container.id}/healthcheck")
        assert result["Status"] == "healthy", result


def test_image_verifies_real_provider_tokens(
    engine: Engine, built_image: BuiltImage, tmp_path: Path
) -> None:
    async def tokens(provider: OidcProvider) -> tuple[dict[str, Any], list[str]]:
        resource = "https://agents.example.com/mcp"
        issued = [
            await provider.token(resource=resource, scope="agents:invoke", client_id=client)
            for client in (RS256_CLIENT, ES256_CLIENT)
        ]
        async with aiohttp.ClientSession() as session:
            jwks = await (await session.get(f"{provider.issuer}/jwks")).json()
        return jwks, issued

    provider = OidcProvider(tmp_path).start()
    try:
        jwks, issued = asyncio.run(tokens(provider))
    finally:
        provider.stop()
    data = {
        "jwks": jwks,
        "tokens": issued,
        "audience": "https://agents.example.com/mcp",
        "issuer": provider.issuer,
    }
    output = run_once(engine, built_image, "-c", VERIFY_PROVIDER_TOKENS, json.dumps(data))
    assert output.split("\n")[:2] == [f"RS256 {RS256_CLIENT}", f"ES256 {ES256_CLIENT}"]


def test_image_metadata(engine: Engine, built_image: BuiltImage) -> None:
    config = built_image.image.attrs["Config"]
    labels = config["Labels"]
    args = built_image.build_args

    assert labels["org.opencontainers.image.created"] == args["BUILD_DATE"]
    assert labels["org.opencontainers.image.revision"] == VCS_REF
    assert labels["org.opencontainers.image.version"] == args["VERSION"]
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert config["User"] == "1000:1000"
    assert config["Entrypoint"] == ["python", "-m", "app"]
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["StopSignal"] == "SIGTERM"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["AGENTSMCP_COMMIT"] == VCS_REF
    assert env["AGENTSMCP_VERSION"] == IMAGE_VERSION == args["VERSION"]
    assert env["PATH"].startswith("/opt/venv/bin:")
    build_info = run_once(engine, built_image, "-c", f"print(open('{BUILD_INFO_PATH}').read())")
    assert json.loads(build_info) == {
        key: args[key] if key in args else labels["org.opencontainers.image.source"]
        for key in ("VERSION", "VCS_REF", "BUILD_DATE", "SOURCE_URL")
    }


def test_build_info_metric_reports_the_deployed_version_and_commit(
    start_server: ServerFactory,
) -> None:
    server = start_server()

    assert server.get("/metrics")[0] == 404  # only on the metrics listener, which no route exposes
    status, body = server.get_metrics()
    assert status == 200
    build_info = [
        line for line in body.decode().splitlines() if line.startswith("agentsmcp_build_info{")
    ]
    assert len(build_info) == 1
    assert re.search(rf'commit="{VCS_REF}"', build_info[0])
    assert re.search(rf'version="{IMAGE_VERSION}"', build_info[0])
    status, body = server.get("/health")
    assert json.loads(body)["version"] == IMAGE_VERSION


def test_rotated_jwt_key_file_is_used_without_a_restart(start_server: ServerFactory) -> None:
    """The Secret volume as the kubelet updates it, under the real image: the new key and the
    previous one are accepted, with no restart; removing the previous key ends the window."""
    server = start_server(secrets_refresh_seconds=1)
    old, new = SECRETS["JWT_SECRET_KEY"], "rotated-container-secret-" + "n" * 32
    old_token, new_token = _token(old), _token(new)
    assert server.get_with_token("/v1/models", old_token)[0] == 200
    assert server.get_with_token("/v1/models", new_token)[0] == 401
    started = server.container.attrs["State"]["StartedAt"]

    rotated = {**SECRETS, "JWT_SECRET_KEY": new, "JWT_PREVIOUS_SECRET_KEY": old}
    write_secrets_dir(server.secrets_dir, rotated)
    _eventually(lambda: server.get_with_token("/v1/models", new_token)[0] == 200)
    assert server.get_with_token("/v1/models", old_token)[0] == 200

    write_secrets_dir(server.secrets_dir, {**SECRETS, "JWT_SECRET_KEY": new})
    _eventually(lambda: server.get_with_token("/v1/models", old_token)[0] == 401)
    server.container.reload()
    assert server.container.attrs["State"]["StartedAt"] == started
    assert server.container.attrs["RestartCount"] == 0


def _token(secret: str) -> str:
    from tools.issue_token import issue_token

    return issue_token(
        secret=secret, subject="rotation", issuer="agentsmcp", audience="agentsmcp-api", ttl=300
    )


def _eventually(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the refresh interval"
        time.sleep(0.2)


def test_invalid_config_exits_2_with_a_clear_message(
    engine: Engine, built_image: BuiltImage, tmp_path: Path
) -> None:
    deployment = pulumi_deployment(f"http://127.0.0.1:{DISCARD_PORT}")
    config_dir = write_config_dir(tmp_path / "config", deployment.config_yaml + "surprise: 1\n")
    secrets_dir = write_secrets_dir(tmp_path / "secrets", deployment.secrets)
    container = engine.client.containers.run(
        built_image.image.id,
        detach=True,
        environment=deployment.environment,
        volumes=deployment_volumes(config_dir, secrets_dir),
        network_mode="none",
        **kubernetes_like_options(),
    )
    try:
        result = container.wait(timeout=60)
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)

    assert result["StatusCode"] == 2, logs
    assert logs.strip().splitlines() == ["config error: surprise: unknown key"]
