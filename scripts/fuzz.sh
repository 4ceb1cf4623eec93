#!/usr/bin/env bash
# `make fuzz` (and a step of `make test`): schemathesis against the served openapi.yaml.
#
# Starts its own moto server and a debug `outbox-local` (API and consumers) on free loopback ports
# with fresh, randomly prefixed resources, then lets schemathesis generate requests from the spec:
# examples, coverage (boundary and invalid values), random fuzzing, and stateful sequences that
# follow the spec's links (send → status by unique_id and by queue_id). Each response is checked
# for no 5xx, a documented status, a documented content type, a body matching its schema (errors
# in the contract's {code, message, field?} shape) and documented header values; keyed routes must
# refuse a missing or wrong key. Bounded by examples per operation and by wall time, with a fixed
# seed so that a failure reproduces.
#
# Knobs (environment): FUZZ_MAX_EXAMPLES (default 40 per operation), FUZZ_SEED (default 1437),
# FUZZ_TIMEOUT (default 600 s for the schemathesis run: 17 operations, about 130 s of coverage phase alone on 2 shared cores), FUZZ_WORKERS (default 1: schemathesis on Python 3.11 can crash in its own threads with 2).
# The reports (JUnit, and a pytest file reproducing each failure) go to target/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."

max_examples=${FUZZ_MAX_EXAMPLES:-40}
seed=${FUZZ_SEED:-1437}
time_limit=${FUZZ_TIMEOUT:-600}
workers=${FUZZ_WORKERS:-1}
report_dir=target/fuzz
api_key=local-dev-key

bash scripts/venv.sh
# A no-op after `make test`'s build; `make fuzz` on its own builds the runner here.
cargo build --locked -p outbox-local --quiet
mkdir -p "$report_dir"
rm -f "$report_dir"/*.xml "$report_dir"/*.py
# Keep schemathesis' crash cache and hypothesis' files out of the source tree.
config="$report_dir/schemathesis.toml"
printf '[cache]\ndirectory = "%s/cache"\n' "$PWD/$report_dir" > "$config"
export HYPOTHESIS_STORAGE_DIRECTORY="$PWD/$report_dir/hypothesis"

source scripts/processes.sh
start_moto "$report_dir/moto.log" fuzz
port=$(free_port)
prefix="fz$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')"
base="http://127.0.0.1:$port"
# The rate limiter is off: schemathesis sends hundreds of requests a minute with one key.
AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" PORT="$port" OUTBOX_LOCAL_PREFIX="$prefix" \
  OUTBOX_RATE_LIMIT_PER_MINUTE=off RUST_LOG="${RUST_LOG:-warn}" \
  target/debug/outbox-local >"$report_dir/outbox-local.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 600); do
  curl -fsS -o /dev/null "$base/health" 2>/dev/null && break
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$report_dir/outbox-local.log" >&2; echo "fuzz: outbox-local exited" >&2; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "$base/health" || { cat "$report_dir/outbox-local.log" >&2; echo "fuzz: outbox-local is not healthy" >&2; exit 1; }
echo "fuzz: outbox-local on $base (moto on $moto_port, prefix $prefix); seed $seed, $max_examples examples per operation"

# positive_data_acceptance and negative_data_rejection are left out: JSON Schema cannot say "distinct
# after trimming" (poll options) or "at most 30 days from now" (scheduled_at), so either check could
# fail on a correct server. Run them by hand with FUZZ_CHECKS=all to compare the request schema with
# the validators; those two rules are the only differences expected.
checks=${FUZZ_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,ignored_auth,unsupported_method,allow_header_conformance}
# schemathesis skips the operation a spec was loaded from, so it reads the served spec from a file:
# the same bytes (checked), and GET /v1/openapi.yaml gets fuzzed like every other operation.
served="$report_dir/openapi.served.yaml"
curl -fsS -o "$served" "$base/v1/openapi.yaml"
cmp -s "$served" openapi.yaml || { echo "fuzz: GET /v1/openapi.yaml is not openapi.yaml: rebuild outbox-local" >&2; exit 1; }
status=0
timeout --kill-after=10 "$time_limit" .venv/bin/schemathesis --config-file "$config" run "$served" \
  --url "$base" \
  --header "Authorization: Bearer $api_key" \
  --checks "$checks" \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --generation-database none \
  --workers "$workers" \
  --request-timeout 10 \
  --no-color \
  --report junit,pytest --report-dir "$report_dir" \
  || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "fuzz: schemathesis did not finish within ${time_limit}s" >&2
elif [ "$status" -ne 0 ]; then
  echo "fuzz: schemathesis found problems (exit $status); reports in $report_dir/, server log in $report_dir/outbox-local.log" >&2
fi
exit "$status"
