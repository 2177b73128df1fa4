#!/usr/bin/env bash
# make deploy STACK=dev: check the tools, the local registry and the cluster stack, select or create
# the stack, then `pulumi up`. `deploy.sh --cluster local` (make deploy-cluster) does the same for a
# stack of the cluster project in cluster/.
# Environment: PULUMI_UP_ARGS (extra flags for `pulumi up`, e.g. --yes), PULUMI_CONFIG_PASSPHRASE.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

PROJECT_DIR="."
if [[ "${1:-}" == "--cluster" ]]; then
  PROJECT_DIR="cluster"
  shift
fi
STACK="${1:-${STACK:-dev}}"
VENV="${VENV:-.venv}"
[[ "$VENV" = /* ]] || VENV="$ROOT/$VENV"
cd "$PROJECT_DIR"

if [[ ! -f "Pulumi.${STACK}.yaml" ]]; then
  stacks=""
  for file in Pulumi.*.yaml; do
    name="${file#Pulumi.}"
    stacks+="${name%.yaml} "
  done
  echo "deploy: no Pulumi.${STACK}.yaml; stacks here: ${stacks}" >&2
  exit 2
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  make -C "$ROOT" venv VENV="$VENV"
fi

# App stacks: does it build an image (no agentsmcp:image.ref), which local registry does it push to,
# and which cluster stack does it reference? Cluster stacks: none of these.
read -r builds_image registry cluster_stack < <(PYTHONPATH="$ROOT" "$VENV/bin/python" - "$STACK" "$PROJECT_DIR" <<'PY'
import re
import sys
from components.stack_file import stack_config
if sys.argv[2] != ".":
    print("no - -")
    raise SystemExit
config = stack_config(sys.argv[1])
image = config.get("agentsmcp:image") or {}
builds = not (isinstance(image, dict) and image.get("ref"))
repository = str(image.get("repository") or "") if isinstance(image, dict) else ""
local = re.match(r"^((localhost|127\.0\.0\.1):[0-9]+)/", repository)
cluster = config.get("agentsmcp:cluster") or {}
reference = cluster.get("stack") if isinstance(cluster, dict) else None
print("yes" if builds else "no", local.group(1) if builds and local else "-", reference or "-")
PY
)

missing=()
if ! command -v pulumi >/dev/null 2>&1; then
  missing+=("pulumi CLI (install: curl -fsSL https://get.pulumi.com | sh)")
fi
if ! command -v kubectl >/dev/null 2>&1; then
  missing+=("kubectl (https://kubernetes.io/docs/tasks/tools/)")
elif ! context="$(kubectl config current-context 2>/dev/null)" || [[ -z "$context" ]]; then
  missing+=("a kubectl context (kubectl config use-context NAME, or create a local cluster: kind create cluster)")
fi
if [[ "$builds_image" == "yes" ]]; then
  if ! command -v docker >/dev/null 2>&1; then
    missing+=("a docker engine: the docker CLI is not installed (or set agentsmcp:image.ref to a prebuilt image)")
  elif ! docker info >/dev/null 2>&1; then
    missing+=("a running docker engine: 'docker info' failed (start Docker, or point DOCKER_HOST at podman's socket)")
  fi
fi
if [[ "$registry" != "-" ]] && ! "$VENV/bin/python" -c '
import sys, urllib.request
urllib.request.urlopen(f"http://{sys.argv[1]}/v2/", timeout=3)
' "$registry" >/dev/null 2>&1; then
  missing+=("a registry at ${registry} (image.repository pushes there): create kind with its registry with 'make local-cluster', or point image.repository at a registry you can push to")
fi
if ((${#missing[@]})); then
  echo "deploy: missing prerequisites:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "deploy: kubectl context '${context}', stack '${STACK}'"

if ! pulumi whoami >/dev/null 2>&1; then
  echo "deploy: not logged in to a Pulumi backend; using local file state (pulumi login --local)"
  pulumi login --local
fi

if [[ "$cluster_stack" != "-" ]] && ! (cd "$ROOT/cluster" && pulumi stack output --stack "$cluster_stack" --json >/dev/null 2>&1); then
  echo "deploy: the cluster stack ${cluster_stack} (agentsmcp:cluster.stack) is not deployed; deploy it first: make deploy-cluster CLUSTER_STACK=${cluster_stack##*/}" >&2
  exit 1
fi

if ! pulumi stack select "$STACK" >/dev/null 2>&1; then
  echo "deploy: creating stack '${STACK}' with the passphrase secrets provider"
  pulumi stack init "$STACK" --secrets-provider passphrase
fi

# shellcheck disable=SC2086  # PULUMI_UP_ARGS is a list of flags
pulumi up --stack "$STACK" ${PULUMI_UP_ARGS:-}
if [[ "$PROJECT_DIR" == "." ]]; then
  echo "deploy: done. Check it with: make smoke STACK=${STACK}"
else
  echo "deploy: cluster stack '${STACK}' done. Deploy an app stack on it: make deploy STACK=dev"
fi
