#!/usr/bin/env bash
# `make test`: everything, from a clean clone. Installs what it needs (the Python tools into .venv),
# builds, runs the Rust tests (unit, handler, integration against moto, black-box), fuzzes the API against
# openapi.yaml with schemathesis, runs the 1,000-message chaos soak, and lints the template.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { printf '\n== %s (%ds)\n' "$1" $((SECONDS - start)); }

step "python tools"
bash scripts/venv.sh

step "format"
cargo fmt --all --check

step "build"
# The black-box test runs the outbox-local binary, so every binary is built first.
cargo build --workspace --all-targets --locked

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "fuzz (schemathesis against openapi.yaml)"
bash scripts/fuzz.sh

step "soak (1,000 messages under injected faults and consumer kills, then an outage and a DLQ replay)"
# The debug binaries of the build step; the report is printed, logs are in target/soak/.
SOAK_PROFILE=debug bash scripts/soak.sh 1000

step "template"
bash scripts/lint-template.sh

step "done"
