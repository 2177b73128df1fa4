#!/usr/bin/env bash
# Build the e2e tier's binaries from the Go module proxy (nothing built is committed):
#   kube:        etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
#   kwok:        kwok (fake nodes and pods)
#   pulumi:      the pulumi CLI (the Python language host is not served by the module proxy;
#                the e2e tests use the Python SDK's own Automation API language server instead)
#   k8sprovider: pulumi-resource-kubernetes (our main.go + the module's schema.json)
#   jaeger:      Jaeger v2 all-in-one (OTLP receiver, memory storage, query API) for the tracing tests
# Each wrapper module under e2e/tools/<name> builds with ONE `go build` into
# $E2E_TOOLS_CACHE/<name>-<version>-<hash>/bin (default ~/.cache/agentsmcp/e2e-tools), keyed by
# the wrapper files, Go version and build flags, outside the checkout so that a warm machine
# (another clone, CI's fresh clone) rebuilds nothing. build/e2e-tools/bin holds symlinks to the
# binaries this checkout uses. Go's module and build caches stay in their default places.
# Usage: scripts/e2e-tools.sh [name ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${E2E_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentsmcp/e2e-tools}
LINKS=$ROOT/build/e2e-tools/bin
# -buildvcs=false: the wrappers sit inside our git checkout, whose state must not leak into them.
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=${GOTOOLCHAIN:-local}
NICE=(nice -n "${E2E_TOOLS_NICE:-15}")

log() { printf 'e2e-tools: %s\n' "$*" >&2; }

modversion() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }
moddir() {
	local version
	version=$(modversion "$1" "$2")
	(cd "$1" && go mod download -json "$2@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
}

# key <name> <version> <flags...>: directory name for this recipe
key() {
	local name=$1 version=$2
	shift 2
	local hash
	hash=$( (cat "e2e/tools/$name"/go.mod "e2e/tools/$name"/go.sum "e2e/tools/$name"/*.go 2>/dev/null; printf '%s\n' "$(go env GOVERSION)" "$@") | sha256sum | cut -c1-12)
	printf '%s-%s-%s' "$name" "$version" "$hash"
}

# build <name> <version> <go build args...>: one go build into the keyed dir unless it is complete
build() {
	local name=$1 version=$2
	shift 2
	local dir lock
	dir=$OUT/$(key "$name" "$version" "$@")
	mkdir -p "$OUT"
	# One build per key at a time (another checkout or CI may be building the same one); the
	# lock is held until this script exits.
	exec {lock}>"$dir.lock"
	flock "$lock"
	if [[ -f $dir/.complete ]]; then
		log "$name $version: cached ($dir)"
		printf '%s\n' "$dir"
		return
	fi
	rm -rf "$dir"
	mkdir -p "$dir/bin"
	log "$name $version: building into $dir"
	local start=$SECONDS
	(cd "e2e/tools/$name" && "${NICE[@]}" go build -trimpath -o "$dir/bin/" "$@")
	log "$name $version: built in $((SECONDS - start)) s"
	printf '%s\n' "$dir"
}

finish() { touch "$1/.complete"; }

build_kube() {
	local w=e2e/tools/kube v major minor
	v=$(modversion $w k8s.io/kubernetes)
	major=${v#v}
	minor=${major#*.}
	major=${major%%.*}
	minor=${minor%%.*}
	local ld="-s -w" pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done
	local dir
	dir=$(build kube "$v" -tags selinux,notest -ldflags "$ld" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3)
	# go build names etcd's main package after its module path ("server").
	[[ -f $dir/bin/server ]] && mv "$dir/bin/server" "$dir/bin/etcd"
	finish "$dir"
	link "$dir"
}

build_kwok() {
	local w=e2e/tools/kwok v dir
	v=$(modversion $w sigs.k8s.io/kwok)
	dir=$(build kwok "$v" -ldflags "-s -w" sigs.k8s.io/kwok/cmd/kwok)
	finish "$dir"
	link "$dir"
}

build_pulumi() {
	local w=e2e/tools/pulumi v dir
	v=$(modversion $w github.com/pulumi/pulumi/pkg/v3)
	dir=$(build pulumi "$v" -tags osusergo,grpcnotrace \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
	finish "$dir"
	link "$dir"
}

build_k8sprovider() {
	local w=e2e/tools/k8sprovider v dir src
	v=$(modversion $w github.com/pulumi/pulumi-kubernetes/sdk/v4)
	# The upstream main embeds a gitignored, generated schema-embed.json; ours embeds the
	# committed schema.json from the module zip, copied here (gitignored) before the build.
	src=$(moddir $w github.com/pulumi/pulumi-kubernetes/provider/v4)
	install -m 0644 "$src"/cmd/pulumi-resource-kubernetes/{schema,terraform-mapping}.json $w/
	dir=$(build k8sprovider "$v" \
		-ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${v#v}" .)
	[[ -f $dir/bin/k8sprovider ]] && mv "$dir/bin/k8sprovider" "$dir/bin/pulumi-resource-kubernetes"
	finish "$dir"
	link "$dir"
}

build_jaeger() {
	local w=e2e/tools/jaeger v dir
	v=$(modversion $w github.com/jaegertracing/jaeger)
	dir=$(build jaeger "$v" -ldflags "-s -w" github.com/jaegertracing/jaeger/cmd/jaeger)
	finish "$dir"
	link "$dir"
}

# link <dir>: point build/e2e-tools/bin/<binary> at this recipe's binaries
link() {
	mkdir -p "$LINKS"
	local f
	for f in "$1"/bin/*; do ln -sfn "$f" "$LINKS/$(basename "$f")"; done
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(kube kwok pulumi k8sprovider)
for name in "${names[@]}"; do
	case $name in
	kube | kwok | pulumi | k8sprovider | jaeger) "build_$name" ;;
	*)
		log "unknown tool set '$name' (kube, kwok, pulumi, k8sprovider, jaeger)"
		exit 2
		;;
	esac
done
log "binaries linked in $LINKS"
