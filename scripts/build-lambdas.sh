#!/usr/bin/env bash
# Builds the three Lambda binaries with cargo-lambda (installed into .venv from PyPI, with zig).
# Default: x86_64, the only Rust target installed on these machines; pass --arm64 on a machine that has it
# (`rustup target add aarch64-unknown-linux-gnu`), which is what template.yaml deploys.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
export PATH="$PWD/.venv/bin:$PATH"
target_flag=(--x86-64)
if [ "${1:-}" = "--arm64" ]; then target_flag=(--arm64); fi
cargo lambda build --release "${target_flag[@]}" \
  --bin outbox-api --bin outbox-delivery --bin outbox-dead-letter
for bin in outbox-api outbox-delivery outbox-dead-letter; do
  printf '%-20s %s bytes\n' "$bin" "$(stat -c %s "target/lambda/$bin/bootstrap")"
done
