#!/usr/bin/env bash
# The deployment guide's validation step: render every stack, then run every validator on the
# result and on the repository (schemas, policy, Pod Security, alert rules, metrics, Dockerfile,
# CI workflows). Exits non-zero on any finding. Arguments go to `python -m validation`
# (for example `--stacks prod` or `--only kubernetes policy`).
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory venv tools render
exec .venv-tools/bin/python -m validation --manifests build/manifests "$@"
