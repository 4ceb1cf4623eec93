# Outbox: `make run` brings the local stack up, `make test` runs every check.
# The targets that need sam or cargo-lambda use .venv/bin (installed by `make venv`, or by them).
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help run test iam iam-mutations fuzz soak bench lint build build-lambda invoke deploy outputs admin-env destroy venv

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

venv: ## Install the Python tools (moto, cfn-lint, aws-sam-cli, cargo-lambda with zig, schemathesis) into .venv
	@bash scripts/venv.sh

run: ## The local stack on http://127.0.0.1:8080/v1 (moto on 127.0.0.1:4566 unless AWS_ENDPOINT_URL is set)
	@bash scripts/run-local.sh

test: ## Every test: unit, handler, integration against moto, black-box, IAM-enforced suite, fuzz, soak, sam build, invoke, template lint
	@bash scripts/test.sh

iam: ## The black-box suite against moto with template.yaml's IAM enforced, one process per function under its role
	@bash scripts/iam.sh

iam-mutations: ## make iam once per action the template allows, with that action removed: each must fail with its AccessDenied
	@bash scripts/iam.sh --mutations all

fuzz: ## schemathesis against openapi.yaml on a throwaway local stack (FUZZ_MAX_EXAMPLES, FUZZ_SEED)
	@bash scripts/fuzz.sh

N ?= 10000
soak: ## Chaos soak: N sends (default 10000) under injected faults and consumer kills, then an outage and a DLQ replay
	@bash scripts/soak.sh $(N)

bench: ## The benchmark figures of issue 5: a table, and bench/results.json
	@bash scripts/bench.sh

lint: ## sam validate --lint and cfn-lint on template.yaml
	@bash scripts/lint-template.sh

build: ## Build every binary (release)
	cargo build --release --workspace

# The template's Architecture parameter: arm64 (Graviton, needs `rustup target add aarch64-unknown-linux-gnu`) or x86_64.
# Empty means: what a guided deploy saved in samconfig.toml, else arm64.
ARCH ?=

build-lambda: ## sam build of the four functions for ARCH (default arm64): the zips sam deploy uploads, and their sizes
	@bash scripts/sam-build.sh $(or $(ARCH),arm64)

FN ?=
EVENT ?=
invoke: ## Run a function's binary on an event without Docker: make invoke FN=api|delivery|dead-letter|webhook EVENT=events/….json
	@bash scripts/invoke.sh "$(FN)" "$(EVENT)"

deploy: ## Build and deploy to your AWS account (guided the first time); ARCH=x86_64 without the aarch64 Rust target
	@ARCH=$(ARCH) bash scripts/deploy.sh deploy

outputs: ## The deployed stack's outputs (ApiUrl, queues, table, bucket) as a table
	@bash scripts/venv.sh >&2 && .venv/bin/python scripts/stack.py outputs

admin-env: ## export lines that point outbox-admin at the deployed stack: eval "$(make -s admin-env)"
	@bash scripts/venv.sh >&2 && .venv/bin/python scripts/stack.py admin-env

destroy: ## Delete the deployed stack (asks first; the table and media bucket are retained)
	@bash scripts/deploy.sh destroy
