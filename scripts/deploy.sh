#!/usr/bin/env bash
# make deploy STACK=dev: check the tools, select or create the stack, then `pulumi up`.
# Environment: PULUMI_UP_ARGS (extra flags for `pulumi up`, e.g. --yes), PULUMI_CONFIG_PASSPHRASE.
set -euo pipefail
cd "$(dirname "$0")/.."

STACK="${1:-${STACK:-dev}}"
VENV="${VENV:-.venv}"

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
  make venv VENV="$VENV"
fi

# The stack deploys a prebuilt image (agentsmcp:image.ref) or builds one, which needs an engine.
builds_image="$("$VENV/bin/python" - "$STACK" <<'PY'
import sys
from components.render import stack_config
image = stack_config(sys.argv[1]).get("agentsmcp:image") or {}
print("no" if isinstance(image, dict) and image.get("ref") else "yes")
PY
)"

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

if ! pulumi stack select "$STACK" >/dev/null 2>&1; then
  echo "deploy: creating stack '${STACK}' with the passphrase secrets provider"
  pulumi stack init "$STACK" --secrets-provider passphrase
fi

# shellcheck disable=SC2086  # PULUMI_UP_ARGS is a list of flags
pulumi up --stack "$STACK" ${PULUMI_UP_ARGS:-}
echo "deploy: done. Check it with: make smoke STACK=${STACK}"
