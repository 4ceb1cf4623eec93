#!/usr/bin/env bash
# `make soak N=10000`, and the 1,000-message step of `make test` (SOAK_PROFILE=debug reuses its build).
#
# Runs bench/src/bin/outbox-soak: its own moto server and `outbox-local api` + `outbox-local consumers`
# (the sandbox injecting transient/permanent errors and latency, deterministic from the seed) on
# loopback, N sends across many chats with a few Idempotency-Key retries, SIGKILLs of the consumer
# process at random moments, a bounded wait until every accepted message is terminal, the invariants,
# then a provider outage, `outbox-admin dlq replay --all`, and recovery. Exits non-zero on a violation.
# Extra arguments go to outbox-soak (--seed, --kills, --faults, ...; see --help). Logs and the
# report: target/soak/<prefix>/ (the last report also in target/soak/latest-report.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-${N:-1000}}
shift || true
profile=${SOAK_PROFILE:-release}

bash scripts/venv.sh
if [ "$profile" = release ]; then
  cargo build --release --locked -p outbox-local -p outbox-admin -p outbox-bench --bins
else
  cargo build --locked -p outbox-local -p outbox-admin -p outbox-bench --bins
fi
# A hard stop far above the soak's own bounds, so nothing can hang CI.
limit=$((900 + n / 5))
timeout --kill-after=10 "$limit" "target/$profile/outbox-soak" --messages "$n" "$@"
