"""A real Kubernetes control plane on 127.0.0.1 with kwok's fake nodes.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as they do in a cluster, with
certificates and service-account keys made here by openssl; kwok marks a few annotated Nodes Ready
and their pods Running, so Deployments become Available without a kubelet or containers. Nothing
listens beyond 127.0.0.1, and no webhook or aggregated API is installed, so the API server never
dials an address outside this machine (pod and node IPs are recorded, never connected to).

    cp = ControlPlane(Path("build/cluster"))
    cp.start()            # writes build/cluster/kubeconfig, waits for /readyz and Ready nodes
    cp.kubectl("get", "nodes")
    cp.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.binaries import CONTROL_PLANE, KWOK, ROOT, require, tool
from e2e.crds import kwok_stage_files

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
NODE_ZONES = ("zone-a", "zone-b", "zone-c")
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
START_TIMEOUT = 120.0
PIDS_FILE = "pids.json"


class ControlPlaneError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> None:
    """A CA, the API server's serving cert, an admin client cert and the service-account keys."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("genrsa", "-out", "ca.key", "2048", cwd=pki)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-days", "2", "-subj", "/CN=e2e-ca",
        "-out", "ca.crt", cwd=pki,
    )  # fmt: skip
    sans = (
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    )
    certs = {
        "apiserver": ("/CN=kube-apiserver", f"{sans}\nextendedKeyUsage=serverAuth\n"),
        "admin": ("/O=system:masters/CN=e2e-admin", "extendedKeyUsage=clientAuth\n"),
    }
    for name, (subject, ext) in certs.items():
        (pki / f"{name}.ext").write_text(ext)
        _openssl("genrsa", "-out", f"{name}.key", "2048", cwd=pki)
        _openssl(
            "req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=pki
        )
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
            cwd=pki,
        )  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def kubeconfig_text(server: str, pki: Path) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "e2e",
                "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": "e2e-admin",
                "user": {
                    "client-certificate": str(pki / "admin.crt"),
                    "client-key": str(pki / "admin.key"),
                },
            }
        ],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e-admin"}}],
        "current-context": "e2e",
    }
    return json.dumps(config, indent=2)


def fake_node(name: str, zone: str) -> dict[str, Any]:
    """A Node kwok manages: Ready, with room for the prod stack's replicas and its zone spread."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": zone,
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
        },
    }


@dataclass
class ControlPlane:
    """The processes of one control plane, their state under ``workdir``; see the module doc."""

    workdir: Path
    nodes: int = 3
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    server: str = ""

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(tool("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result

    def get_json(self, *args: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        return data

    def _spawn(self, name: str, argv: Sequence[str]) -> None:
        log = (self.workdir / "logs" / f"{name}.log").open("ab")
        # A new session, so a stop ends exactly these processes and nothing else.
        self.processes[name] = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.workdir,
        )  # fmt: skip
        log.close()
        self._write_pids()

    def _write_pids(self) -> None:
        pids = {name: proc.pid for name, proc in self.processes.items()}
        (self.workdir / PIDS_FILE).write_text(json.dumps(pids))

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                tail = (self.workdir / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
                raise ControlPlaneError(f"{name} exited with {proc.returncode}:\n{tail}")

    def wait(self, what: str, ready: Any, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if ready():
                return
            time.sleep(0.5)
        raise ControlPlaneError(f"timed out after {timeout:.0f} s waiting for {what}")

    def start(self) -> None:
        require(*CONTROL_PLANE, *KWOK)
        for sub in ("logs", "etcd"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        make_pki(self.pki)
        pki = self.pki
        etcd_port, peer_port, api_port = _free_port(), _free_port(), _free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        self.kubeconfig.write_text(kubeconfig_text(self.server, pki))
        try:
            self._start_processes(pki, etcd_port, peer_port, api_port)
        except BaseException:
            self.stop()
            raise

    def _start_processes(self, pki: Path, etcd_port: int, peer_port: int, api_port: int) -> None:
        etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                str(tool("etcd")), "--name=e2e", f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}", "--unsafe-no-fsync", "--log-level=warn",
            ],
        )  # fmt: skip
        self._spawn(
            "kube-apiserver",
            [
                str(tool("kube-apiserver")), f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}", "--endpoint-reconciler-type=none",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--authorization-mode=Node,RBAC",
                # As kubeadm clusters run: privileged pods are left to Pod Security to refuse.
                "--allow-privileged=true",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--profiling=false", "--v=1",
            ],
        )  # fmt: skip
        self.wait("the API server's /readyz", self._api_ready)
        kubeconfig = str(self.kubeconfig)
        self._spawn(
            "kube-controller-manager",
            [
                str(tool("kube-controller-manager")), f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={_free_port()}",
                "--leader-elect=false", f"--root-ca-file={pki / 'ca.crt'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--v=1",
            ],
        )  # fmt: skip
        self._spawn(
            "kube-scheduler",
            [
                str(tool("kube-scheduler")), f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={_free_port()}",
                "--leader-elect=false", "--v=1",
            ],
        )  # fmt: skip
        self._spawn(
            "kwok",
            [
                str(tool("kwok")), f"--kubeconfig={kubeconfig}",
                "--node-lease-duration-seconds=40",
                *(f"--config={path}" for path in kwok_stage_files(ROOT)),
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
                f"--cidr={POD_CIDR}", "--node-ip=10.244.0.1",
                f"--server-address=127.0.0.1:{_free_port()}",
            ],
        )  # fmt: skip
        self.wait("the default ServiceAccount", self._default_sa_ready)
        nodes = [
            fake_node(f"kwok-node-{i}", NODE_ZONES[i % len(NODE_ZONES)]) for i in range(self.nodes)
        ]
        self.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}),
        )
        self.wait("Ready nodes", self._nodes_ready)

    def _api_ready(self) -> bool:
        result = self.kubectl("get", "--raw", "/readyz", check=False, timeout=10)
        return result.returncode == 0 and result.stdout.strip() == "ok"

    def _default_sa_ready(self) -> bool:
        return (
            self.kubectl(
                "get", "serviceaccount", "default", "-n", "default", check=False
            ).returncode
            == 0
        )

    def _nodes_ready(self) -> bool:
        nodes = self.get_json("nodes")["items"]
        ready = [
            node
            for node in nodes
            if any(
                cond["type"] == "Ready" and cond["status"] == "True"
                for cond in node.get("status", {}).get("conditions", [])
            )
        ]
        return len(ready) >= self.nodes

    def stop(self) -> None:
        """SIGTERM each process (reverse start order), SIGKILL what is left after 15 s."""
        for proc in reversed(list(self.processes.values())):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.processes.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.workdir / PIDS_FILE).unlink()


def stop_recorded(workdir: Path) -> list[str]:
    """Stop a control plane started by another process (``make cluster-down``) from its pid file."""
    pids_file = workdir / PIDS_FILE
    if not pids_file.exists():
        return []
    pids: dict[str, int] = json.loads(pids_file.read_text())
    stopped = []
    for name, pid in reversed(list(pids.items())):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            stopped.append(name)
    deadline = time.monotonic() + 15
    for pid in pids.values():
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    pids_file.unlink()
    return stopped


def install_crds(cp: ControlPlane, docs: list[dict[str, Any]]) -> list[str]:
    """Server-side apply the CRDs and wait until the API server serves each of them."""
    cp.kubectl(
        "apply", "--server-side", "--field-manager=e2e", "-f", "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}), timeout=120,
    )  # fmt: skip
    names = [str(doc["metadata"]["name"]) for doc in docs]
    cp.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s",
        *(f"crd/{name}" for name in names), timeout=90,
    )  # fmt: skip
    return names


class IngressStatusPublisher:
    """Publishes a load-balancer address on each Ingress, as an ingress controller does.

    No ingress controller runs here, and Pulumi waits for an Ingress until a controller has
    written ``status.loadBalancer`` (as on any real cluster). This stands in for that one step
    only, with the documented field; it polls once a second and stops with the context."""

    def __init__(self, cp: ControlPlane, hostname: str = "localhost") -> None:
        self.cp = cp
        self.hostname = hostname
        self.published: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingress-status", daemon=True)

    def __enter__(self) -> IngressStatusPublisher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        status = {"status": {"loadBalancer": {"ingress": [{"hostname": self.hostname}]}}}
        while not self._stop.wait(1.0):
            result = self.cp.kubectl("get", "ingress", "-A", "-o", "json", check=False)
            if result.returncode != 0:
                continue
            for item in json.loads(result.stdout)["items"]:
                if item.get("status", {}).get("loadBalancer", {}).get("ingress"):
                    continue
                meta = item["metadata"]
                patched = self.cp.kubectl(
                    "patch", "ingress", meta["name"], "-n", meta["namespace"],
                    "--subresource=status", "--type=merge", "-p", json.dumps(status), check=False,
                )  # fmt: skip
                if patched.returncode == 0:
                    self.published.append(f"{meta['namespace']}/{meta['name']}")
