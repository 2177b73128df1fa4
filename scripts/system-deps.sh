#!/usr/bin/env bash
# What `make test` needs beyond the Python pins, on Debian 12: promtool (package prometheus) for
# the alert rules, shellcheck for actionlint, podman for `podman kube play`, docker-registry and
# htpasswd for the registry pull test, redis-server for the shared rate-limit tests (they start
# their own servers on loopback ports), node and npm for the OpenID provider of the auth tests and
# the official MCP TypeScript SDK, nginx as the round-robin proxy in front of two servers
# (tests/mcp_clients), and a Docker-compatible engine with the stand-in base images for the
# container tests. Idempotent: installs and starts only what is missing.
#
# As root it sets everything up. Otherwise it names what is missing and how to get it, and the
# checks that need it then report it (under CI=true, as a failure).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'system-deps: %s\n' "$*" >&2; }

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
# podman runs `podman kube play` of the rendered Deployment, also next to a Docker daemon.
command -v podman >/dev/null 2>&1 || missing+=(podman)
# A real registry with htpasswd auth for the pull Secret test (tests/container/test_registry_pull.py).
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# node runs the OpenID provider of the auth tests (tests/oidc, installed by `make node-deps`).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
# The tests start nginx with their own config on loopback; the binary is all they need.
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# wrk drives the plain-request scenarios of `make bench` (bench/load.py).
command -v wrk >/dev/null 2>&1 || missing+=(wrk)

if [[ $(id -u) -ne 0 ]]; then
    if ((${#missing[@]})); then
        log "missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})"
    fi
    log "not root: the container engine is not set up here (sudo make container-engine base-images)"
    exit 0
fi

if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The test starts its own registry on 127.0.0.1; the package's service is not wanted.
    if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
    fi
    # Likewise the tests start their own nginx on loopback ports.
    if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now nginx.service >/dev/null 2>&1 || true
    fi
fi

# A Docker daemon the user already runs is used as it is; otherwise podman's socket.
if [[ -z "${DOCKER_HOST:-}" && ! -S /var/run/docker.sock ]]; then
    eval "$(bash scripts/container-engine.sh)"
    bash scripts/build-base-images.sh >/dev/null
fi
