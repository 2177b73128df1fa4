#!/usr/bin/env bash
# Set up a Docker-compatible container engine on Debian without a Docker daemon: podman, buildah
# and runc from Debian, and `podman system service` on a socket that the docker CLI and docker-py
# talk to. Idempotent: installs only what is missing and starts the service only if the socket does
# not answer. Prints the environment to use, e.g.
#
#   eval "$(scripts/container-engine.sh)"   # exports CONTAINERS_CONF and DOCKER_HOST
#   scripts/container-engine.sh --stop      # stops the service this script started, if running
#
# Users with a working Docker daemon do not need this script.
set -euo pipefail

PACKAGES=(podman buildah runc conmon netavark aardvark-dns slirp4netns uidmap catatonit
    containernetworking-plugins debootstrap debian-archive-keyring)

log() { printf 'container-engine: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root: it installs packages and starts the rootful socket"

SOCKET=/run/podman/podman.sock
PID_FILE=/run/podman/agentsmcp-service.pid
LOG_FILE=/var/log/agentsmcp-podman-service.log

# The PID in PID_FILE, if that process is still the podman service this script started.
started_service_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "podman system service" || return 1
    echo "$pid"
}

stop_service() {
    local pid
    if pid="$(started_service_pid)"; then
        kill "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        log "stopped the podman service (pid $pid)"
    fi
    rm -f "$PID_FILE"
}

if [[ "${1:-}" == "--stop" ]]; then
    stop_service
    exit 0
fi

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query --show --showformat='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# runc: Debian's podman defaults to crun, which is not installed here. The ulimits: containers
# otherwise inherit the host's very high nofile/nproc limits, which runc cannot always apply.
CONF_DIR=/etc/agentsmcp
CONF="$CONF_DIR/containers.conf"
desired_conf='# Written by scripts/container-engine.sh (agentsmcp); used through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
'
if [[ ! -f "$CONF" || "$(cat "$CONF")"$'\n' != "$desired_conf" ]]; then
    install -d -m 0755 "$CONF_DIR"
    printf '%s' "$desired_conf" >"$CONF"
    log "wrote $CONF"
fi
export CONTAINERS_CONF="$CONF"

socket_answers() {
    [[ -S "$SOCKET" ]] && python3 - "$SOCKET" <<'PY'
import http.client
import socket
import sys


class UnixConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(sys.argv[1])


try:
    connection = UnixConnection("localhost")
    connection.request("GET", "/_ping")
    sys.exit(0 if connection.getresponse().status == 200 else 1)
except OSError:
    sys.exit(1)
PY
}

if socket_answers; then
    log "podman service already answers on $SOCKET"
else
    stop_service  # one this script started earlier that no longer answers
    install -d -m 0755 "$(dirname "$SOCKET")"
    rm -f "$SOCKET"
    # --time=0: serve until stopped. setsid: survive the shell (and CI step) that started it.
    # BUILDAH_FORMAT=docker: builds through the socket keep HEALTHCHECK, which OCI images drop.
    CONTAINERS_CONF="$CONF" BUILDAH_FORMAT=docker setsid podman system service --time=0 "unix://$SOCKET" \
        </dev/null >>"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 50); do
        socket_answers && break
        sleep 0.2
    done
    socket_answers || die "podman system service did not answer on $SOCKET (see $LOG_FILE)"
    log "podman service started (pid $(cat "$PID_FILE")), log in $LOG_FILE"
fi

echo "export CONTAINERS_CONF=$CONF"
echo "export DOCKER_HOST=unix://$SOCKET"
