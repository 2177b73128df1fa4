#!/usr/bin/env bash
# Build local stand-ins for the Dockerfile's base images from Debian 12 packages, for machines
# that cannot pull debian:12-slim or gcr.io/distroless/python3-debian12 (tests, CI, air gaps).
#
#   builder stand-in: a debootstrapped minimal bookworm with python3-venv (what the builder stage
#                     would otherwise apt-get install).
#   runtime stand-in: distroless-like: only the files of python3.11 and the libraries it needs,
#                     unpacked from the same .debs, so the venv made in the builder works unchanged.
#                     No shell, no pip, no apt or dpkg.
#
# Both are cached: the root filesystems as tarballs under $AGENTSMCP_CACHE_DIR, the images in the
# engine's store. A second run with nothing changed does nothing. Prints the build args to use.
#
# Usage: scripts/build-base-images.sh [--force]
# Env:   DEBIAN_MIRROR (default http://deb.debian.org/debian), AGENTSMCP_CACHE_DIR,
#        CONTAINER_ENGINE (default podman).
set -euo pipefail

SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ENGINE="${CONTAINER_ENGINE:-podman}"
# Written by scripts/container-engine.sh: runc and ulimits that work on this kind of machine.
if [[ -z "${CONTAINERS_CONF:-}" && -f /etc/agentsmcp/containers.conf ]]; then
    export CONTAINERS_CONF=/etc/agentsmcp/containers.conf
fi
BUILDER_TAG="localhost/agentsmcp-standin/builder:bookworm"
RUNTIME_TAG="localhost/agentsmcp-standin/python3-runtime:bookworm"
STANDIN_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

if [[ $(id -u) -eq 0 ]]; then
    CACHE_DIR="${AGENTSMCP_CACHE_DIR:-/var/cache/agentsmcp}"
else
    CACHE_DIR="${AGENTSMCP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentsmcp}"
fi

# Roots of the runtime stand-in's package closure (Depends and Pre-Depends are followed).
RUNTIME_ROOTS=(python3.11-minimal libpython3.11-stdlib python3-minimal ca-certificates tzdata
    netbase media-types)
# Dependencies that only matter to package maintainer scripts, or that bring a shell or a
# package manager: the runtime stand-in leaves them out, as distroless does.
RUNTIME_EXCLUDED=(dpkg debconf debconf-2.0 perl-base bash dash coreutils debianutils openssl
    readline-common sensible-utils install-info libdebconfclient0 tar diffutils findutils grep
    sed gzip init-system-helpers base-passwd)

force=false
[[ "${1:-}" == "--force" ]] && force=true

log() { printf 'build-base-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in debootstrap dpkg-deb "$ENGINE" python3 sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/container-engine.sh)"
done
[[ $(id -u) -eq 0 ]] || die "debootstrap needs root"

# The cache key changes whenever this script (package choice, layout) changes.
key="$(sha256sum "$0" | cut -c1-16)"
builder_tar="$CACHE_DIR/builder-$SUITE-$key.tar"
runtime_tar="$CACHE_DIR/runtime-$SUITE-$key.tar"
mkdir -p "$CACHE_DIR"

image_key() { "$ENGINE" image inspect --format '{{ index .Labels "agentsmcp.standin.key" }}' "$1" 2>/dev/null || true; }

if ! $force && [[ "$(image_key "$BUILDER_TAG")" == "$key" && "$(image_key "$RUNTIME_TAG")" == "$key" ]]; then
    log "stand-in images are up to date (key $key)"
else
    if $force || [[ ! -s "$builder_tar" || ! -s "$runtime_tar" ]]; then
        work="$(mktemp -d "$CACHE_DIR/work.XXXXXX")"
        # A failed debootstrap can leave /proc or /sys mounted inside the root: unmount first.
        cleanup() {
            awk -v prefix="$work/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts \
                | sort -r | xargs -r umount -l
            rm -rf "$work"
        }
        trap cleanup EXIT
        builder_root="$work/builder"
        runtime_root="$work/runtime"

        log "debootstrap $SUITE (minbase + python3-venv) from $MIRROR"
        debootstrap --variant=minbase --include=python3-venv,ca-certificates,netbase \
            "$SUITE" "$builder_root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
            || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

        log "unpacking the runtime closure"
        python3 - "$builder_root" "${RUNTIME_ROOTS[*]}" "${RUNTIME_EXCLUDED[*]}" >"$work/debs" <<'PY'
import sys
from pathlib import Path

root, wanted, excluded = Path(sys.argv[1]), sys.argv[2].split(), set(sys.argv[3].split())
packages: dict[str, dict[str, str]] = {}
provides: dict[str, str] = {}
for stanza in (root / "var/lib/dpkg/status").read_text().split("\n\n"):
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line and not line[0].isspace() and ":" in line:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    if "installed" not in fields.get("Status", ""):
        continue
    name = fields["Package"]
    packages[name] = fields
    for provided in fields.get("Provides", "").split(","):
        if provided.strip():
            provides.setdefault(provided.split()[0].split(":")[0], name)


def resolve(alternatives: str) -> str | None:
    for alternative in alternatives.split("|"):
        name = alternative.split()[0].split(":")[0]
        if name in excluded:
            return None
        if name in packages:
            return name
        if name in provides:
            return provides[name]
    raise SystemExit(f"unresolvable dependency {alternatives!r}")


seen: set[str] = set()
queue = list(wanted)
while queue:
    name = queue.pop()
    if name in seen or name in excluded:
        continue
    if name not in packages:
        raise SystemExit(f"{name} is not installed in the builder root")
    seen.add(name)
    fields = packages[name]
    for relation in ("Pre-Depends", "Depends"):
        for alternatives in filter(None, (d.strip() for d in fields.get(relation, "").split(","))):
            dependency = resolve(alternatives)
            if dependency is not None:
                queue.append(dependency)
archives = root / "var/cache/apt/archives"
for name in sorted(seen):
    version = packages[name]["Version"].replace(":", "%3a")
    arch = packages[name]["Architecture"]
    deb = archives / f"{name}_{version}_{arch}.deb"
    if not deb.exists():
        raise SystemExit(f"missing {deb}")
    print(deb)
PY
        mapfile -t debs <"$work/debs"
        mkdir -p "$runtime_root"
        for deb in "${debs[@]}"; do
            dpkg-deb --extract "$deb" "$runtime_root"
        done
        # ca-certificates builds its bundle in a maintainer script: take the builder's result.
        install -D -m 0644 "$builder_root/etc/ssl/certs/ca-certificates.crt" \
            "$runtime_root/etc/ssl/certs/ca-certificates.crt"
        # The same accounts distroless ships; the image itself runs as 1000:1000.
        printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
            'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
            'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$runtime_root/etc/passwd"
        printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$runtime_root/etc/group"
        install -d -m 1777 "$runtime_root/tmp"
        install -d -m 0700 "$runtime_root/root"
        install -d -m 0700 -o 65532 -g 65532 "$runtime_root/home/nonroot"
        rm -rf "$runtime_root"/usr/share/{doc,man,info,lintian} "$runtime_root"/etc/{init.d,cron.daily}
        for forbidden in bin/sh usr/bin/sh bin/bash usr/bin/dpkg usr/bin/apt-get usr/bin/pip3 \
            usr/lib/python3/dist-packages/pip; do
            [[ ! -e "$runtime_root/$forbidden" && ! -L "$runtime_root/$forbidden" ]] \
                || die "runtime stand-in unexpectedly contains /$forbidden"
        done

        # The builder keeps apt (a Dockerfile may still apt-get), but not the downloaded files.
        rm -rf "$builder_root"/var/cache/apt/archives/*.deb "$builder_root"/var/lib/apt/lists/* \
            "$builder_root"/usr/share/{doc,man,info}

        tar --numeric-owner -C "$builder_root" -cf "$builder_tar.partial" .
        tar --numeric-owner -C "$runtime_root" -cf "$runtime_tar.partial" .
        mv "$builder_tar.partial" "$builder_tar"
        mv "$runtime_tar.partial" "$runtime_tar"
        find "$CACHE_DIR" -maxdepth 1 -name "*-$SUITE-*.tar" ! -name "*-$key.tar" -delete
    else
        log "using cached root filesystems in $CACHE_DIR"
    fi

    log "importing $BUILDER_TAG"
    "$ENGINE" import --quiet \
        --change "ENV PATH=$STANDIN_PATH" \
        --change "LABEL agentsmcp.standin.key=$key" \
        --change 'CMD ["/bin/bash"]' \
        "$builder_tar" "$BUILDER_TAG" >/dev/null
    log "importing $RUNTIME_TAG"
    "$ENGINE" import --quiet \
        --change "ENV PATH=$STANDIN_PATH" \
        --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
        --change "LABEL agentsmcp.standin.key=$key" \
        --change 'ENTRYPOINT ["/usr/bin/python3.11"]' \
        "$runtime_tar" "$RUNTIME_TAG" >/dev/null

    log "checking the runtime stand-in: python imports its C extensions, and nothing else runs"
    "$ENGINE" run --rm --network none --entrypoint /usr/bin/python3 "$RUNTIME_TAG" -c \
        'import ssl, sqlite3, ctypes, lzma, bz2, zlib, decimal, uuid, hashlib, json, zoneinfo, venv; ssl.create_default_context()' \
        || die "python3 does not work in $RUNTIME_TAG"
fi

size="$("$ENGINE" image inspect --format '{{ .Size }}' "$RUNTIME_TAG")"
log "runtime stand-in size: $((size / 1000000)) MB"
echo "BUILDER_IMAGE=$BUILDER_TAG"
echo "RUNTIME_IMAGE=$RUNTIME_TAG"
