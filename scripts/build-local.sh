#!/usr/bin/env bash
# Builds outbox-local (the local stack of `make run`, also what `make invoke` provisions with) with
# the `local` profile of Cargo.toml, tuned to compile fast rather than to run fast; the Lambda zips
# and `make bench` keep the optimised release profile. `--path` prints the binary's path instead.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=local
if [ "${1:-}" = --path ]; then
  echo "target/$profile/outbox-local"
  exit 0
fi
echo "build: outbox-local, cargo profile '$profile' (a first build compiles the AWS SDK: minutes; cargo's progress follows)"
start=$SECONDS
cargo build --locked --profile "$profile" -p outbox-local
echo "build: outbox-local ready in $((SECONDS - start))s"
