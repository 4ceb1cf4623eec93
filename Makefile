# Outbox: `make run` brings the local stack up, `make test` runs every check.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help run test fuzz soak bench lint fmt build lambda venv

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

venv: ## Install the Python tools (moto, cfn-lint, aws-sam-cli) into .venv
	@bash scripts/venv.sh

run: ## The local stack on http://127.0.0.1:8080/v1 (moto on 127.0.0.1:4566 unless AWS_ENDPOINT_URL is set)
	@bash scripts/run-local.sh

test: ## Every test: unit, handler, integration against moto, black-box, schemathesis fuzz, template lint
	@bash scripts/test.sh

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

lambda: ## Build the Lambda zips with cargo-lambda (x86_64 here; the template deploys arm64)
	@bash scripts/build-lambdas.sh
