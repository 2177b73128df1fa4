"""``make smoke STACK=NAME``: post-deploy connection test (the equivalent of ``helm test``).

Port-forwards the stack's Service with kubectl (the HTTP port and the metrics port), checks the
health endpoints and ``/metrics`` on the metrics port,
then calls ``GET /v1/models`` with a token minted from the stack's JWT secret (read from the
Kubernetes Secret, or ``pulumi config get jwtSecretKey``). Prints one PASS/FAIL line per check
and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.config import (  # noqa: E402
    NAMESPACE,
    SECRET_KEYS,
    StackConfigError,
    parse_stack_config,
)
from components.secrets import SECRET_NAME  # noqa: E402
from components.stack_file import stack_config  # noqa: E402
from components.workload import SERVICE_NAME, SERVICE_PORT  # noqa: E402
from tools.issue_token import issue_token  # noqa: E402

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)  # noqa: S310 (a loopback http URL we build)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def run_checks(base_url: str, token: str, metrics_url: str | None = None) -> list[Check]:
    """Every check against a running server at ``base_url`` (metrics at ``metrics_url``)."""
    checks: list[Check] = []

    def probe(name: str, path: str, token: str | None = None) -> tuple[int, bytes] | None:
        try:
            return _get(base_url + path, token)
        except (OSError, urllib.error.URLError) as exc:
            checks.append(Check(name, False, f"GET {path} failed: {exc}"))
            return None

    for path in ("/health", "/health/ready", "/health/live"):
        result = probe(f"GET {path}", path)
        if result is not None:
            status, _ = result
            checks.append(Check(f"GET {path}", status == 200, f"HTTP {status}"))
    try:
        result: tuple[int, bytes] | None = _get((metrics_url or base_url) + "/metrics")
    except (OSError, urllib.error.URLError) as exc:
        checks.append(Check("GET /metrics", False, f"GET /metrics failed: {exc}"))
        result = None
    if result is not None:
        status, body = result
        exposes = b"http_requests_total" in body
        checks.append(
            Check(
                "GET /metrics",
                status == 200 and exposes,
                f"HTTP {status}" + ("" if exposes else ", http_requests_total missing"),
            )
        )
    result = probe("GET /v1/models without a token", "/v1/models")
    if result is not None:
        status, _ = result
        checks.append(
            Check("GET /v1/models without a token", status == 401, f"HTTP {status} (want 401)")
        )
    result = probe("GET /v1/models with a token", "/v1/models", token)
    if result is not None:
        status, body = result
        detail = f"HTTP {status}"
        passed = False
        if status == 200:
            try:
                models = json.loads(body)["data"]
                passed = isinstance(models, list) and len(models) > 0
                detail += f", {len(models)} models" if isinstance(models, list) else ", no list"
            except (ValueError, KeyError, TypeError):
                detail += ", body is not an OpenAI-style model list"
        checks.append(Check("GET /v1/models with a token", passed, detail))
    return checks


def _run(command: Sequence[str]) -> str:
    result = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        list(command), capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise RuntimeError(f"{' '.join(command[:3])}...: {last_line}")
    return result.stdout


def kubectl_command(kubectl: str, config: dict[str, object]) -> list[str]:
    """kubectl aimed at the stack's cluster: ``agentsmcp:kubernetes.context`` and a kubeconfig
    given as a file path, as the Pulumi provider uses them (else the current context)."""
    settings = config.get(f"{NAMESPACE}:kubernetes") or {}
    command = [kubectl]
    if isinstance(settings, dict):
        kubeconfig = settings.get("kubeconfig")
        if isinstance(kubeconfig, str) and "\n" not in kubeconfig and Path(kubeconfig).is_file():
            command += ["--kubeconfig", kubeconfig]
        if isinstance(settings.get("context"), str):
            command += ["--context", str(settings["context"])]
    return command


def _jwt_secret(kubectl: list[str], namespace: str, stack: str) -> str:
    try:
        encoded = _run(
            [
                *kubectl,
                "-n",
                namespace,
                "get",
                "secret",
                SECRET_NAME,
                "-o",
                "jsonpath={.data.JWT_SECRET_KEY}",
            ]
        ).strip()
        if encoded:
            return base64.b64decode(encoded).decode()
    except RuntimeError as exc:
        print(f"note: {exc}; trying pulumi config", file=sys.stderr)
    if shutil.which("pulumi"):
        value = _run(
            ["pulumi", "config", "get", "jwtSecretKey", "--show-secrets", "--stack", stack]
        ).strip()
        if value:
            return value
    raise RuntimeError(
        f"cannot read JWT_SECRET_KEY from secret {namespace}/{SECRET_NAME} or the stack config"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, forward: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        if forward.poll() is not None:
            stderr = forward.stderr.read() if forward.stderr else ""
            raise RuntimeError(f"kubectl port-forward exited: {stderr.strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("kubectl port-forward did not open its local port within 30 s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--stack-dir", type=Path, default=ROOT, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    stack = options.stack
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("FAIL  prerequisites: kubectl not found on PATH")
        return 1
    try:
        config = stack_config(stack, options.stack_dir)
    except SystemExit as exc:
        print(f"FAIL  stack: {exc}")
        return 1
    try:
        settings = parse_stack_config(
            {
                key.removeprefix(f"{NAMESPACE}:"): value
                for key, value in config.items()
                if key.startswith(f"{NAMESPACE}:")
                and key.removeprefix(f"{NAMESPACE}:") not in SECRET_KEYS
            }
        )
    except StackConfigError as exc:
        print(f"FAIL  stack: {exc}")
        return 1
    namespace = settings.namespace
    auth = settings.app.auth
    command = kubectl_command(kubectl, config)
    try:
        secret = _jwt_secret(command, namespace, stack)
    except RuntimeError as exc:
        print(f"FAIL  JWT secret: {exc}")
        return 1
    token = issue_token(
        secret=secret,
        subject="smoke-test",
        issuer=auth.issuer,
        audience=auth.audience,
        ttl=300,
    )
    port, metrics_port = _free_port(), _free_port()
    service_metrics_port = settings.metrics_port
    forward = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
        [
            *command,
            "-n",
            namespace,
            "port-forward",
            f"svc/{SERVICE_NAME}",
            f"{port}:{SERVICE_PORT}",
            f"{metrics_port}:{service_metrics_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_port(port, forward, time.monotonic() + 30)
        print(f"PASS  port-forward: svc/{SERVICE_NAME} in {namespace} on 127.0.0.1:{port}")
        checks = run_checks(
            f"http://127.0.0.1:{port}", token, metrics_url=f"http://127.0.0.1:{metrics_port}"
        )
    except RuntimeError as exc:
        print(f"FAIL  port-forward: {exc}")
        return 1
    finally:
        forward.terminate()
        try:
            forward.wait(timeout=5)
        except subprocess.TimeoutExpired:
            forward.kill()
    for check in checks:
        print(check.line())
    failed = sum(not check.passed for check in checks)
    print(f"smoke {stack}: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
