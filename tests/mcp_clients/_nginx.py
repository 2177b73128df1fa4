"""nginx (Debian's nginx-light) as a round-robin reverse proxy on loopback, in front of several
servers, the way an Ingress spreads one client's requests over replicas. Its access log records,
for every request, the upstream that served it, the JSON-RPC body and the ``Mcp-Session-Id``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.reliability._process import free_port, get, wait_until

LOG_FORMAT = (
    '{"upstream":"$upstream_addr","status":"$status","method":"$request_method",'
    '"uri":"$request_uri","session":"$http_mcp_session_id","minted":"$upstream_http_mcp_session_id",'
    '"body":"$request_body","time":"$msec"}'
)


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def config(port: int, upstreams: list[str], directory: Path, *, session_affinity: bool) -> str:
    """The whole nginx.conf: round robin (nginx's default) or, with ``session_affinity``, the
    same server for every request carrying the same ``Mcp-Session-Id``; streaming for /mcp."""
    servers = "\n".join(f"        server {address} max_fails=0;" for address in upstreams)
    affinity = ""
    if session_affinity:
        # Requests without a session ID (initialize, the stateless era, hosts that never echo
        # it) hash on their own random request ID, so they still spread over the servers.
        affinity = (
            "    map $http_mcp_session_id $mcp_affinity {\n"
            '        "" $request_id;\n'
            "        default $http_mcp_session_id;\n"
            "    }\n"
        )
        servers = "        hash $mcp_affinity consistent;\n" + servers
    temp = "\n".join(
        f"    {name}_temp_path {directory / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Workers run as root only when the test does (nginx would switch to an unprivileged user
    # that cannot write the test's temporary directory).
    user = "user root root;" if os.geteuid() == 0 else ""
    return f"""
{user}
daemon off;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} notice;
events {{ worker_connections 256; }}
http {{
    log_format mcp escape=json '{LOG_FORMAT}';
    access_log {directory / "access.log"} mcp;
{temp}
{affinity}    upstream agentsmcp {{
{servers}
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        # MCP answers on SSE streams: no buffering, long reads, HTTP/1.1 to the servers.
        location = /mcp {{
            proxy_pass http://agentsmcp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}
        location / {{
            proxy_pass http://agentsmcp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


class Nginx:
    def __init__(
        self, binary: str, directory: Path, upstreams: list[str], *, session_affinity: bool
    ) -> None:
        self.directory = directory
        self.port = free_port()
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (directory / name).mkdir(parents=True, exist_ok=True)
        self.binary = binary
        self.session_affinity = session_affinity
        self.upstreams = list(upstreams)
        conf = self._write_config(upstreams)
        self._log = (directory / "nginx.out").open("wb")
        self.process = subprocess.Popen(
            [binary, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self, upstreams: list[str]) -> Path:
        conf = self.directory / "nginx.conf"
        conf.write_text(
            config(self.port, upstreams, self.directory, session_affinity=self.session_affinity)
        )
        test = subprocess.run(
            [self.binary, "-t", "-p", str(self.directory), "-c", str(conf), "-e", "stderr"],
            capture_output=True,
            text=True,
            check=False,
        )
        if test.returncode != 0:
            raise RuntimeError(f"nginx -t refused the config:\n{test.stderr}")
        return conf

    def reload(self, upstreams: list[str]) -> None:
        """New upstreams, as an endpoint change reaches a proxy: nginx starts workers with the new
        config and lets the old ones finish the requests they hold (SIGHUP). Returns once the
        proxy has routed a request to an upstream the old config did not have."""
        added = set(upstreams) - set(self.upstreams)
        if not added:
            raise ValueError("reload needs an upstream the proxy does not have yet")
        self._write_config(upstreams)
        self.upstreams = list(upstreams)
        self.process.send_signal(signal.SIGHUP)

        def routes_to_added() -> bool:
            get(f"{self.url}/health/live")
            return any(entry["upstream"] in added for entry in self.access_log())

        wait_until(routes_to_added, timeout=20, what=f"nginx to route to {sorted(added)}")

    def access_log(self) -> list[dict[str, Any]]:
        path = self.directory / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: lets the access log flush
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


@contextlib.contextmanager
def running_nginx(
    binary: str, directory: Path, upstreams: list[str], *, session_affinity: bool = False
) -> Iterator[Nginx]:
    proxy = Nginx(binary, directory, upstreams, session_affinity=session_affinity)
    try:
        wait_until(
            lambda: get(f"{proxy.url}/health/live")[0] == 200,
            timeout=20,
            what=f"nginx on {proxy.url}",
        )
        yield proxy
    finally:
        proxy.stop()
