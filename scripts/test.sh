#!/usr/bin/env bash
# `make test`: everything, from a clean clone. Installs what it needs (the Python tools into .venv),
# builds, runs the Rust tests (unit, handler, integration against moto, black-box), runs the black-box
# suite under the template's IAM (and three permission removals it must catch), fuzzes the API against
# openapi.yaml with schemathesis, runs the 1,000-message chaos soak, builds the Lambda zips with sam build
# (x86_64, nothing deployed), invokes each function's binary on the shipped events, and lints the template.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { printf '\n== %s (%ds)\n' "$1" $((SECONDS - start)); }

step "python tools"
bash scripts/venv.sh

step "format, and no module cycles in shared/src"
cargo fmt --all --check
python3 scripts/module-cycles.py

step "build"
# The black-box test runs the outbox-local binary, so every binary is built first.
cargo build --workspace --all-targets --locked

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "iam (the suite under template.yaml's roles, moto enforcing IAM; three removals it must catch)"
bash scripts/iam.sh --mutations quick

step "fuzz (schemathesis against openapi.yaml)"
bash scripts/fuzz.sh

step "soak (1,000 messages under injected faults and consumer kills, then an outage and a DLQ replay)"
# The debug binaries of the build step; the report is printed, logs are in target/soak/.
SOAK_PROFILE=debug bash scripts/soak.sh 1000

# The next two steps prove the build path (template, SAM, cargo-lambda, the x86_64 target, the shipped
# events), not the optimiser: the release profile's optimisations are switched off for both, which takes
# the three zips from about 31 CPU-minutes (thin LTO, opt-level 3) to about 3. `make build-lambda`
# builds the real zips.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256

step "sam build (Architecture=x86_64 through SAM's rust-cargolambda method; nothing is deployed)"
bash scripts/sam-build.sh x86_64

step "invoke (each function's binary on every event in events/, cargo lambda watch + invoke, no Docker)"
# The binaries of the sam build step (same profile settings, so nothing is compiled) and the debug
# outbox-local of the build step.
OUTBOX_LOCAL_BIN=target/debug/outbox-local bash scripts/invoke.sh --check-all

step "template"
bash scripts/lint-template.sh

step "done"
