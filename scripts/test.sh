#!/usr/bin/env bash
# `make test`: everything, from a clean clone. Installs what it needs (the Python tools into .venv),
# builds, runs the Rust tests (unit, handler, integration against moto, black-box), fuzzes the API against
# openapi.yaml with schemathesis, and lints the template.
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

step "template"
bash scripts/lint-template.sh

step "done"
