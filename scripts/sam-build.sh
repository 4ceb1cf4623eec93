#!/usr/bin/env bash
# `make build-lambda ARCH=arm64|x86_64` (default arm64), a step of `make test` (x86_64) and of
# `make deploy`: `sam build` of the three functions, i.e. exactly the zips `sam deploy` uploads, in
# .aws-sam/build/. Prints the three bootstrap sizes and checks each one's CPU against ARCH.
#
# sam build's rust-cargolambda method runs `cargo lambda build --release [--arm64] --bin <Binary>`
# once per function and shows cargo's output only when it fails. The same three commands run here
# first, with cargo's progress on the terminal; sam build then finds every binary fresh and only
# copies it. cargo-lambda compiles into target/<triple>/release with the release profile.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lambda-common.sh

arch=${1:-${ARCH:-arm64}}
rust_target_of "$arch" >/dev/null
MAKE_TARGET=${MAKE_TARGET:-build-lambda} require_rust_target "$arch"
use_venv_tools
# SAM copies each binary from ./target/lambda whatever CARGO_TARGET_DIR says, so it must be ./target.
unset CARGO_TARGET_DIR
export SAM_CLI_TELEMETRY=${SAM_CLI_TELEMETRY:-0}

arch_flag=()
[ "$arch" = arm64 ] && arch_flag=(--arm64)
start=$SECONDS
bins=(outbox-api outbox-delivery outbox-dead-letter outbox-status-stream outbox-webhook)
for bin in "${bins[@]}"; do
  echo "build-lambda: compiling $bin for $arch (release profile, cargo lambda build) ($((SECONDS - start))s)"
  CARGO_TARGET_DIR=target cargo lambda build --release "${arch_flag[@]}" --bin "$bin"
done
echo "build-lambda: sam build --parameter-overrides Architecture=$arch ($((SECONDS - start))s)"
sam build --parameter-overrides "Architecture=$arch"

echo "build-lambda: done in $((SECONDS - start))s; what sam deploy uploads (.aws-sam/build):"
status=0
for fn in ApiFunction DeliveryFunction DeadLetterFunction StatusStreamFunction WebhookFunction; do
  file=.aws-sam/build/$fn/bootstrap
  built=$(elf_arch "$file")
  printf '  %-20s %10s bytes  %s\n' "$fn" "$(stat -c %s "$file")" "$built"
  if [ "$built" != "$arch" ]; then
    echo "build-lambda: $file is $built, not $arch" >&2
    status=1
  fi
done
exit "$status"
