# agentsmcp: `make deploy STACK=dev` deploys, `make test` verifies everything.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACK ?= dev
STACKS := dev staging prod
# Stacks of the cluster project (cluster/); rendered into $(MANIFESTS)/cluster-<stack>/.
CLUSTER_STACKS := local k3d staging prod
CLUSTER_STACK ?= local
MANIFESTS ?= build/manifests
TOOLS_VENV ?= .venv-tools
TOOLS_BIN := $(TOOLS_VENV)/bin
# The official MCP clients the tests drive /mcp with besides mcp 1.x in .venv (tests/mcp_clients).
MCP2_VENV ?= .venv-mcp2
# The OpenAI Agents SDK the tests drive /v1/responses with (tests/agents_sdk): its own openai pin.
AGENTS_VENV ?= .venv-agents
# The official A2A SDK's client the tests drive /a2a with (tests/a2a_sdk).
A2A_VENV ?= .venv-a2a

.DEFAULT_GOAL := help
.PHONY: system-deps node-deps help venv lint typecheck unit test serve token deploy deploy-cluster local-cluster smoke render validate bench bench-overload bench-streaming clean tools mcp-clients agents-sdk a2a-sdk

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

# cyclonus evaluates NetworkPolicies offline (tests/components/test_network_flows.py); Go builds it.
CYCLONUS_VERSION := v0.5.6
$(TOOLS_BIN)/cyclonus: $(TOOLS_BIN)/.installed
	@command -v go >/dev/null 2>&1 || { echo "tools: 'go' (1.22 or newer) is needed to build cyclonus" >&2; exit 1; }
	GOBIN=$(abspath $(TOOLS_BIN)) GOFLAGS=-mod=mod go install github.com/mattfenwick/cyclonus/cmd/cyclonus@$(CYCLONUS_VERSION)

tools: $(TOOLS_BIN)/.installed $(TOOLS_BIN)/cyclonus  ## Create .venv-tools with the pinned validators (checkov, hadolint, actionlint, cyclonus, ...)

# mcp 2.x needs httpx2 and its own resolution, so it gets its own virtualenv.
$(MCP2_VENV)/bin/.installed: tests/mcp_clients/requirements-mcp2.txt
	test -x $(MCP2_VENV)/bin/python || $(PYTHON) -m venv $(MCP2_VENV)
	$(MCP2_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

mcp-clients: $(MCP2_VENV)/bin/.installed node-deps  ## The official MCP clients for the tests: mcp 2.x in .venv-mcp2, the TypeScript SDK (node-deps)

# openai-agents pins its own openai (newer than the server's), so it gets its own virtualenv.
$(AGENTS_VENV)/bin/.installed: tests/agents_sdk/requirements-agents.txt
	test -x $(AGENTS_VENV)/bin/python || $(PYTHON) -m venv $(AGENTS_VENV)
	$(AGENTS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

agents-sdk: $(AGENTS_VENV)/bin/.installed  ## The OpenAI Agents SDK for the tests, in .venv-agents

# The server speaks A2A natively (docs/a2a.md); the SDK is only the tests' client.
$(A2A_VENV)/bin/.installed: tests/a2a_sdk/requirements-a2a.txt
	test -x $(A2A_VENV)/bin/python || $(PYTHON) -m venv $(A2A_VENV)
	$(A2A_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

a2a-sdk: $(A2A_VENV)/bin/.installed  ## The official a2a-sdk client for the tests, in .venv-a2a

validate: venv tools render  ## Render all stacks, then run every validator (see docs/validation.md)
	$(BIN)/mypy --python-executable $(TOOLS_BIN)/python validation
	$(TOOLS_BIN)/python -m validation --manifests $(MANIFESTS) \
		--stacks $(STACKS) $(addprefix cluster-,$(CLUSTER_STACKS))

lint: venv  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv  ## mypy --strict on app/ and components/
	$(BIN)/mypy

# The npm packages the tests run (tests/package.json): the OpenID provider of the auth tests
# (tests/oidc) and the MCP TypeScript SDK (tests/mcp_clients/ts, tests/oidc), with npm ci.
NODE_MODULES := tests/node_modules/.package-lock.json
$(NODE_MODULES): tests/package.json tests/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "node-deps: node and npm are needed (apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --prefix tests --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_MODULES)  ## npm packages the tests run (tests/package.json, from its package-lock.json)

# pytest-xdist workers for the tests outside tests/container. Those share one built image and run
# in one process after the rest; xdist's loadgroup mode, which could pin them to one worker,
# drops all but one of schemathesis's cases (they share a node id).
PYTEST_WORKERS ?= 2
unit: venv tools node-deps mcp-clients agents-sdk a2a-sdk jaeger  ## pytest without the e2e tier (CI=true turns any skip into a failure)
	$(BIN)/python scripts/run-pytest.py -m "not e2e and not container" --numprocesses $(PYTEST_WORKERS)
	$(BIN)/python scripts/run-pytest.py -m "container"

test: system-deps lint typecheck unit validate  ## Lint, type-check, run every test, then validate the rendered stacks

system-deps:  ## Debian packages and container engine the checks need (root installs; idempotent)
	scripts/system-deps.sh

serve: venv  ## Run the server locally with config/agentsmcp.yaml
	AGENTSMCP_CONFIG=$${AGENTSMCP_CONFIG:-config/agentsmcp.yaml} \
	AGENTSMCP_LOG_FORMAT=$${AGENTSMCP_LOG_FORMAT:-text} \
	JWT_SECRET_KEY=$${JWT_SECRET_KEY:-local-development-secret-change-me} \
	$(BIN)/python -m app

token: venv  ## Print a bearer token for `make serve` (SUB=name TTL=seconds)
	@AGENTSMCP_CONFIG=$${AGENTSMCP_CONFIG:-config/agentsmcp.yaml} \
	JWT_SECRET_KEY=$${JWT_SECRET_KEY:-local-development-secret-change-me} \
	$(BIN)/python -m tools.issue_token --sub "$${SUB:-operator}" --ttl "$${TTL:-3600}"

deploy: venv  ## Deploy STACK=dev|staging|prod with Pulumi (checks tools, registry and cluster stack, pulumi up)
	VENV=$(VENV) scripts/deploy.sh $(STACK)

deploy-cluster: venv  ## Deploy the cluster stack CLUSTER_STACK=local|k3d|staging|prod (cluster/: add-ons shared by app stacks)
	VENV=$(VENV) scripts/deploy.sh --cluster $(CLUSTER_STACK)

local-cluster:  ## Create the kind cluster "agentsmcp" with its registry at localhost:5001 (docs/local-cluster.md)
	scripts/kind-cluster.sh

smoke: venv  ## Post-deploy connection test of STACK through kubectl port-forward
	$(BIN)/python scripts/smoke.py --stack $(STACK)

render: venv  ## Render every app and cluster stack offline (Pulumi mocks) into $(MANIFESTS)/<stack>/
	for stack in $(STACKS); do $(BIN)/python -m tools.render_manifests --stack $$stack --out $(MANIFESTS)/$$stack; done
	for stack in $(CLUSTER_STACKS); do \
		$(BIN)/python -m tools.render_manifests --project cluster --stack $$stack --out $(MANIFESTS)/cluster-$$stack; \
	done

bench: venv system-deps  ## Gateway benchmark, then the overload, limits-store, tracing-cost and streaming-capacity scenarios (BENCH_ARGS="--quick" for a smoke run)
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.overload $(OVERLOAD_ARGS)
	$(BIN)/python -m bench.limits $(BENCH_ARGS)
	$(BIN)/python -m bench.tracing $(BENCH_ARGS)
	$(BIN)/python -m bench.streaming $(BENCH_ARGS)

bench-streaming: venv  ## Only the streaming-capacity scenario: 100 to 2,000 paced streams in flight (STREAMING_ARGS)
	$(BIN)/python -m bench.streaming $(STREAMING_ARGS)

bench-overload: venv  ## Only the overload-shedding scenario and the worker measurement (bench/overload.py)
	$(BIN)/python -m bench.overload $(OVERLOAD_ARGS)

# Container image. CONTAINER_CLI: docker (any Docker-compatible socket, e.g. podman's) or podman.
CONTAINER_CLI ?= $(shell command -v docker >/dev/null 2>&1 && echo docker || echo podman)
IMAGE ?= agentsmcp:dev
IMAGE_VERSION ?= $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' app/__init__.py)
# Extra build args, e.g. IMAGE_BUILD_ARGS="--build-arg WHEELHOUSE=build/wheelhouse".
IMAGE_BUILD_ARGS ?=
.PHONY: image wheelhouse base-images container-engine container-test

image:  ## Build the container image (IMAGE=agentsmcp:dev, IMAGE_BUILD_ARGS=...) and print its size
	$(CONTAINER_CLI) build $(if $(filter podman,$(notdir $(CONTAINER_CLI))),--format docker) \
		--tag $(IMAGE) \
		--build-arg VERSION=$(IMAGE_VERSION) \
		--build-arg VCS_REF=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
		--build-arg BUILD_DATE=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
		$(IMAGE_BUILD_ARGS) .
	@$(CONTAINER_CLI) image inspect --format '{{.Size}}' $(IMAGE) | awk '{printf "image size: %.1f MB\n", $$1 / 1e6}'

wheelhouse: venv  ## Download the image's wheels into build/wheelhouse (for WHEELHOUSE=build/wheelhouse)
	rm -rf build/wheelhouse
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
		--requirement app/requirements.txt --dest build/wheelhouse

container-engine:  ## Install podman (Debian, root) and start its Docker-compatible socket
	scripts/container-engine.sh

base-images: container-engine  ## Build the Debian 12 stand-ins for the base images (cached)
	scripts/build-base-images.sh

container-test: venv base-images  ## Build the image with the stand-ins and run the container tests
	DOCKER_HOST=$${DOCKER_HOST:-unix:///run/podman/podman.sock} \
	$(BIN)/python scripts/run-pytest.py tests/container

clean:  ## Remove build output and the virtualenv
	rm -rf build $(VENV) $(TOOLS_VENV) $(MCP2_VENV) $(AGENTS_VENV) tests/node_modules .mypy_cache .ruff_cache .pytest_cache

# The e2e tier (docs/e2e.md): a real control plane and the real Pulumi engine, built from the Go
# module proxy into build/e2e-tools (keyed by version; a warm machine rebuilds nothing).
CLUSTER_DIR ?= build/cluster
.PHONY: jaeger e2e-tools cluster-up cluster-down e2e

jaeger:  ## Build Jaeger v2 (the tracing tests' OTLP receiver and query API; cached like the e2e tools)
	scripts/e2e-tools.sh jaeger

e2e-tools:  ## Build etcd, kube-*, kubectl, kwok, pulumi and pulumi-resource-kubernetes (cached)
	scripts/e2e-tools.sh

cluster-up: venv  ## Start a local control plane with kwok nodes and our CRDs in $(CLUSTER_DIR)
	scripts/e2e-tools.sh kube kwok
	$(BIN)/python -m e2e up --dir $(CLUSTER_DIR)

cluster-down: venv  ## Stop the control plane started by cluster-up
	$(BIN)/python -m e2e down --dir $(CLUSTER_DIR)

e2e: venv e2e-tools  ## Server-side apply of the rendered stacks and pulumi up/preview/destroy on a real control plane
	$(BIN)/python scripts/run-pytest.py -m e2e tests/e2e
