"""Build the real Dockerfile and run it the way the Kubernetes Deployment does.

The engine is whatever Docker-compatible socket is there (``DOCKER_HOST``, Docker's socket, or the
podman service started by ``scripts/container-engine.sh``), driven through docker-py exactly as a
Docker user would. Only the base images are overridden (``AGENTSMCP_TEST_BUILDER_IMAGE`` and
``AGENTSMCP_TEST_RUNTIME_IMAGE``; by default the stand-ins from ``scripts/build-base-images.sh``),
and pip installs from a wheelhouse downloaded on the host, as in an air-gapped build. The config
file and environment are the prod stack's, rendered by the Pulumi program's own code.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.models.containers
import docker.models.images
import pytest
import yaml

from app.config import SECRET_ENV
from app.secret_files import SECRETS_DIR_ENV
from components.config import parse_stack_config
from components.kube import CONFIG_FILE_NAME, CONFIG_MOUNT_DIR
from components.workload import SECRETS_MOUNT_DIR, render_server_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = "build/wheelhouse"
IMAGE_TAG = "localhost/agentsmcp:container-test"
STANDIN_BUILDER = "localhost/agentsmcp-standin/builder:bookworm"
STANDIN_RUNTIME = "localhost/agentsmcp-standin/python3-runtime:bookworm"
STACK = "prod"
DISCARD_PORT = 9
JWT_SECRET = "container-test-secret-at-least-32-bytes-long"
SECRETS = {  # the Deployment mounts these from the stack's Secret as files
    "JWT_SECRET_KEY": JWT_SECRET,
    "OPENAI_API_KEY": "sk-container-test",
    "ANTHROPIC_API_KEY": "sk-ant-container-test",
}
# Not in the prod stack's Secret: the previous JWT key exists only during a rotation, the limits
# store's URL and password only with rate_limit.backend redis.
OPTIONAL_SECRETS = {"JWT_PREVIOUS_SECRET_KEY", "REDIS_URL", "REDIS_PASSWORD"}
assert set(SECRETS) == set(SECRET_ENV) - OPTIONAL_SECRETS
# A deployed version (a git tag), not the package's __version__: the image must report this one.
IMAGE_VERSION = "v9.8.7-container"
VCS_REF = "0123456789abcdef0123456789abcdef01234567"
READY_TIMEOUT_SECONDS = 60.0

ENGINE_HELP = (
    'start one with `eval "$(sudo scripts/container-engine.sh)"` (podman, Debian), '
    "or point DOCKER_HOST at a Docker daemon"
)


@dataclass
class Engine:
    client: docker.DockerClient
    base_url: str
    is_podman: bool

    def libpod_get(self, path: str) -> dict[str, Any]:
        """GET on podman's own API (``/libpod/...``), for what its Docker API does not show."""
        api = self.client.api
        response = api.get(f"{api.base_url}/v4.0.0/libpod{path}")
        assert response.status_code == 200, (
            f"GET /libpod{path}: {response.status_code} {response.text}"
        )
        return dict(response.json())

    def network_options(self, *, reach_host_loopback: bool) -> tuple[dict[str, Any], str]:
        """``containers.run`` network options, and the host name under which the container reaches
        a server on the host's loopback. podman: slirp4netns maps 10.0.2.2 to the host's 127.0.0.1
        and publishes ports on loopback only. Docker: its default network, or the host network
        when the container must reach the host's loopback."""
        if self.is_podman:
            return {"network_mode": "slirp4netns:allow_host_loopback=true"}, "10.0.2.2"
        if reach_host_loopback:
            return {"network_mode": "host"}, "127.0.0.1"
        return {}, "127.0.0.1"


@dataclass(frozen=True)
class BuiltImage:
    image: docker.models.images.Image
    build_args: dict[str, str]
    wheel_names: frozenset[str]
    size_bytes: int


@dataclass
class RunningServer:
    container: docker.models.containers.Container
    base_url: str
    environment: dict[str, str]
    secrets_dir: Path
    # The separate metrics listener (metrics.port), as the ServiceMonitor scrapes it.
    metrics_url: str

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        return _get(f"{self.base_url}{path}", timeout)

    def get_metrics(self, timeout: float = 5.0) -> tuple[int, bytes]:
        return _get(f"{self.metrics_url}/metrics", timeout)

    def get_with_token(self, path: str, token: str) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310 (http on loopback)
            f"{self.base_url}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http on loopback)
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _socket_candidates() -> list[str]:
    if os.environ.get("DOCKER_HOST"):
        return [os.environ["DOCKER_HOST"]]
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}")
    paths = ["/var/run/docker.sock", "/run/podman/podman.sock", f"{runtime_dir}/podman/podman.sock"]
    return [f"unix://{path}" for path in paths if Path(path).is_socket()]


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    candidates = _socket_candidates()
    if not candidates:
        pytest.skip(f"no Docker-compatible container engine socket found: {ENGINE_HELP}")
    problems = []
    for base_url in candidates:
        try:
            client = docker.DockerClient(base_url=base_url, timeout=600)
            version = client.version()
        except docker.errors.DockerException as exc:
            problems.append(f"{base_url}: {exc}")
            continue
        names = " ".join(str(c.get("Name", "")) for c in version.get("Components") or [])
        yield Engine(client=client, base_url=base_url, is_podman="podman" in names.lower())
        client.close()
        return
    pytest.skip(f"no container engine answers ({'; '.join(problems)}): {ENGINE_HELP}")


# Which base images the build uses: "upstream" (the Dockerfile's own defaults, debian:12-slim and
# distroless, pulled when missing: a machine with registry access such as a GitHub-hosted runner),
# "standin" (the Debian stand-ins of scripts/build-base-images.sh: no registry access), or unset
# (the stand-ins when they are in the engine's store, else upstream).
BASE_IMAGES_ENV = "AGENTSMCP_TEST_BASE_IMAGES"
STANDINS = {"BUILDER_IMAGE": STANDIN_BUILDER, "RUNTIME_IMAGE": STANDIN_RUNTIME}


def dockerfile_base_images() -> dict[str, str]:
    """The Dockerfile's ARG defaults for BUILDER_IMAGE and RUNTIME_IMAGE (one definition)."""
    defaults = {}
    for line in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        name, sep, value = line.removeprefix("ARG ").partition("=")
        if line.startswith("ARG ") and sep and name in ("BUILDER_IMAGE", "RUNTIME_IMAGE"):
            defaults[name] = value.strip()
    assert set(defaults) == {"BUILDER_IMAGE", "RUNTIME_IMAGE"}, defaults
    return defaults


def _present(engine: Engine, ref: str) -> bool:
    try:
        engine.client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def choose_base_images(engine: Engine, environ: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(mode, {build arg: image}). Explicit AGENTSMCP_TEST_BUILDER_IMAGE/RUNTIME_IMAGE win."""
    explicit = {
        arg: environ[f"AGENTSMCP_TEST_{arg}"]
        for arg in ("BUILDER_IMAGE", "RUNTIME_IMAGE")
        if environ.get(f"AGENTSMCP_TEST_{arg}")
    }
    if explicit:
        return "explicit", {**STANDINS, **explicit}
    mode = environ.get(BASE_IMAGES_ENV, "")
    if mode not in ("", "upstream", "standin"):
        pytest.fail(f"{BASE_IMAGES_ENV}={mode!r}: use upstream, standin or leave it unset")
    if mode == "standin" or (not mode and all(_present(engine, r) for r in STANDINS.values())):
        return "standin", dict(STANDINS)
    return "upstream", dockerfile_base_images()


@pytest.fixture(scope="session")
def base_images(engine: Engine) -> dict[str, str]:
    """The base images to build on, present in the engine's store. Upstream images are pulled,
    and the build then passes no BUILDER_IMAGE/RUNTIME_IMAGE args: the Dockerfile's defaults are
    what is tested. A missing image is a skip (a failure under CI=true) saying how to get it."""
    mode, images = choose_base_images(engine, dict(os.environ))
    for ref in images.values():
        if _present(engine, ref):
            continue
        if mode == "upstream":
            try:
                engine.client.images.pull(ref)
            except docker.errors.DockerException as exc:
                pytest.skip(
                    f"cannot pull base image {ref} ({str(exc)[:300]}): without registry access "
                    f"build the stand-ins (`sudo scripts/build-base-images.sh`) and set "
                    f"{BASE_IMAGES_ENV}=standin"
                )
            continue
        pytest.skip(
            f"base image {ref} is not in the engine's store: run "
            "`sudo scripts/build-base-images.sh` (Debian stand-ins), or set "
            f"{BASE_IMAGES_ENV}=upstream on a machine with registry access, or "
            "AGENTSMCP_TEST_BUILDER_IMAGE / AGENTSMCP_TEST_RUNTIME_IMAGE"
        )
    _BASE_MODE.append(mode)
    return images


_BASE_MODE: list[str] = []


def download_wheelhouse() -> frozenset[str]:
    """``pip download`` of app/requirements.txt into the build context: the air-gapped input.
    Returns the normalized project names of the wheels, i.e. the resolved runtime closure."""
    target = REPO_ROOT / WHEELHOUSE
    shutil.rmtree(target, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", "--requirement", str(REPO_ROOT / "app/requirements.txt"),
        "--dest", str(target),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, f"pip download failed:\n{result.stderr}"
    return frozenset(normalize(wheel.name.split("-")[0]) for wheel in target.glob("*.whl"))


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Serializes wheelhouse download and build between test sessions sharing this work tree."""
    lock_path = REPO_ROOT / "build" / ".container-test.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def normalize(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


@pytest.fixture(scope="session")
def built_image(engine: Engine, base_images: dict[str, str]) -> BuiltImage:
    # Upstream: no base image args, so the Dockerfile's defaults are what gets built.
    overrides = {} if _BASE_MODE == ["upstream"] else base_images
    build_args = {
        **overrides,
        "WHEELHOUSE": WHEELHOUSE,
        "VERSION": IMAGE_VERSION,
        "VCS_REF": VCS_REF,
        "BUILD_DATE": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    try:
        with build_lock():
            wheel_names = download_wheelhouse()
            image, _ = engine.client.images.build(
                path=str(REPO_ROOT), tag=IMAGE_TAG, buildargs=build_args, rm=True, forcerm=True
            )
    except docker.errors.BuildError as exc:
        log = "".join(
            str(chunk.get("stream") or chunk.get("error") or "") for chunk in exc.build_log
        )
        pytest.fail(f"docker build failed: {exc.msg}\n{log[-6000:]}")
    image.reload()
    size = int(image.attrs["Size"])
    _IMAGE_SIZES[IMAGE_TAG] = size
    runtime = engine.client.images.get(base_images["RUNTIME_IMAGE"])
    _IMAGE_SIZES[f"{base_images['RUNTIME_IMAGE']} (runtime base)"] = int(runtime.attrs["Size"])
    return BuiltImage(image, build_args, wheel_names, size)


_IMAGE_SIZES: dict[str, int] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for mode in _BASE_MODE:
        terminalreporter.write_line(f"container tests built on the {mode} base images")
    for name, size in _IMAGE_SIZES.items():
        terminalreporter.write_line(f"image size: {name}: {size / 1_000_000:.1f} MB")


def kubernetes_like_options() -> dict[str, Any]:
    """The Deployment's securityContext, as engine options (docker-py ``containers.run``)."""
    return {
        "read_only": True,
        "user": "1000:1000",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"},  # the Deployment's emptyDir
    }


@dataclass(frozen=True)
class Deployment:
    """What the Pulumi program gives the container: config.yaml (the ConfigMap) and env."""

    config_yaml: str
    environment: dict[str, str]
    port: int
    metrics_port: int
    secrets: dict[str, str]


def pulumi_deployment(upstream_base: str, **server: Any) -> Deployment:
    """The prod stack's server config, rendered by the Pulumi program's own code, with the
    providers pointed at ``upstream_base`` and ``server`` settings (the server's own names)
    overridden."""
    raw = yaml.safe_load((REPO_ROOT / f"Pulumi.{STACK}.yaml").read_text())["config"]
    stack = {key.removeprefix("agentsmcp:"): value for key, value in raw.items()}
    server_config = dict(stack["serverConfig"])
    server_config["server"] = {**server_config.get("server", {}), **server}
    providers = server_config["providers"]
    server_config["providers"] = {
        "openai": {**providers["openai"], "api_base": f"{upstream_base}/v1"},
        "anthropic": {**providers["anthropic"], "api_base": upstream_base},
    }
    for provider in server_config["providers"].values():
        provider["max_retries"] = 0
    stack["serverConfig"] = server_config
    config = parse_stack_config(stack)
    environment = {
        "AGENTSMCP_CONFIG": f"{CONFIG_MOUNT_DIR}/{CONFIG_FILE_NAME}",
        **config.server_env,
        SECRETS_DIR_ENV: SECRETS_MOUNT_DIR,
    }
    return Deployment(
        render_server_yaml(config),
        environment,
        config.server_port,
        config.metrics_port,
        dict(SECRETS),
    )


def write_secrets_dir(directory: Path, secrets: dict[str, str]) -> Path:
    """A directory to mount at the Secret volume's path, laid out as the kubelet does (keys are
    symlinks into ``..data``), group-readable by 1000 like ``defaultMode: 0440`` + fsGroup."""
    from tests.fakes.kubelet import publish

    publish(directory, secrets)
    directory.chmod(0o755)
    for path in directory.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
        elif path.is_file() and not path.is_symlink():
            os.chown(path, 0, 1000)
            path.chmod(0o440)
    return directory


def deployment_volumes(config_dir: Path, secrets_dir: Path) -> dict[str, dict[str, str]]:
    return {
        str(config_dir): {"bind": CONFIG_MOUNT_DIR, "mode": "ro"},
        str(secrets_dir): {"bind": SECRETS_MOUNT_DIR, "mode": "ro"},
    }


def write_config_dir(directory: Path, config_yaml: str) -> Path:
    """A directory to mount at /etc/agentsmcp, world-readable like a ConfigMap volume (the
    container runs as 1000:1000)."""
    directory.mkdir()
    config_file = directory / CONFIG_FILE_NAME
    config_file.write_text(config_yaml)
    directory.chmod(0o755)
    config_file.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    return directory


ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def start_server(
    engine: Engine, built_image: BuiltImage, tmp_path: Path
) -> Iterator[ServerFactory]:
    """Start the image with a config directory mounted read-only at /etc/agentsmcp and wait for
    /health/ready through the published port. Containers are removed afterwards."""
    started: list[RunningServer] = []

    def start(upstream_port: int | None = None, **server: Any) -> RunningServer:
        """``upstream_port``: a fake upstream on the host's loopback; without it the providers
        point at the discard port and are not called."""
        network, upstream_host = engine.network_options(reach_host_loopback=bool(upstream_port))
        upstream = f"http://{upstream_host}:{upstream_port or DISCARD_PORT}"
        deployment = pulumi_deployment(upstream, **server)
        config_yaml = deployment.config_yaml
        environment = dict(deployment.environment)
        options: dict[str, Any] = {**kubernetes_like_options(), **network}
        if network.get("network_mode") == "host":
            port, metrics_port = _free_port(), _free_port()
            environment["AGENTSMCP_PORT"] = str(port)
            document = yaml.safe_load(config_yaml)
            document["metrics"]["port"] = metrics_port
            config_yaml = yaml.safe_dump(document)
        else:
            options["ports"] = {
                f"{deployment.port}/tcp": ("127.0.0.1", None),
                f"{deployment.metrics_port}/tcp": ("127.0.0.1", None),
            }
        config_dir = write_config_dir(tmp_path / f"config-{len(started)}", config_yaml)
        secrets_dir = write_secrets_dir(tmp_path / f"secrets-{len(started)}", deployment.secrets)
        container = engine.client.containers.run(
            built_image.image.id,
            detach=True,
            environment=environment,
            volumes=deployment_volumes(config_dir, secrets_dir),
            **options,
        )
        if network.get("network_mode") != "host":
            port = _published_port(container, deployment.port)
            metrics_port = _published_port(container, deployment.metrics_port)
        running = RunningServer(
            container,
            f"http://127.0.0.1:{port}",
            environment,
            secrets_dir,
            f"http://127.0.0.1:{metrics_port}",
        )
        started.append(running)
        _wait_ready(running)
        return running

    yield start
    for running in started:
        with contextlib.suppress(docker.errors.NotFound):
            running.container.remove(force=True)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _published_port(container: docker.models.containers.Container, container_port: int) -> int:
    deadline = time.monotonic() + 10
    while True:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{container_port}/tcp")
        if bindings:
            return int(bindings[0]["HostPort"])
        assert time.monotonic() < deadline, (
            f"no published port: {container.attrs['NetworkSettings']}"
        )
        time.sleep(0.1)


def _wait_ready(server: RunningServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        server.container.reload()
        if server.container.status not in ("created", "running"):
            logs = server.container.logs().decode(errors="replace")
            pytest.fail(f"container stopped ({server.container.status}) before ready:\n{logs}")
        try:
            status, body = server.get("/health/ready", timeout=2)
            if status == 200:
                return
            last = f"{status} {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    logs = server.container.logs().decode(errors="replace")
    pytest.fail(f"/health/ready not 200 after {READY_TIMEOUT_SECONDS}s ({last}):\n{logs}")
