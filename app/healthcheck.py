"""``python -m app.healthcheck``: exit 0 if the server in this container answers ``/health/live``.

The image's ``HEALTHCHECK`` runs it, since the distroless runtime has neither a shell nor curl. It
asks 127.0.0.1 on the port the server itself listens on: ``--port`` if given, else the port from the
same configuration the server reads (``AGENTSMCP_CONFIG``, ``AGENTSMCP_PORT``).
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
from collections.abc import Mapping, Sequence

from app.config import ConfigError, ServerSettings, load_config
from app.contract.paths import LIVE_PATH

DEFAULT_TIMEOUT_SECONDS = 3.0


def configured_port(environ: Mapping[str, str]) -> int:
    """The server's port. A config that no longer loads (say, an edited ConfigMap) must not make a
    running server look dead, so it falls back to ``AGENTSMCP_PORT`` or the default port."""
    try:
        return load_config(environ).server.port
    except ConfigError:
        fallback = environ.get("AGENTSMCP_PORT", "")
        return int(fallback) if fallback.isdigit() else ServerSettings().port


def probe(port: int, timeout: float) -> str | None:
    """``None`` if ``GET /health/live`` on 127.0.0.1 returns 200, else why not."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", LIVE_PATH, headers={"User-Agent": "agentsmcp-healthcheck"})
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"GET http://127.0.0.1:{port}{LIVE_PATH} failed: {exc}"
    finally:
        connection.close()
    if response.status != 200:
        return f"GET http://127.0.0.1:{port}{LIVE_PATH} returned {response.status}"
    return None


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.healthcheck", description=f"Check {LIVE_PATH} on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, help="default: the configured server.port")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds")
    args = parser.parse_args(argv)
    if args.port is None:
        args.port = configured_port(os.environ if environ is None else environ)
    problem = probe(args.port, args.timeout)
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
