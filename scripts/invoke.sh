#!/usr/bin/env bash
# `make invoke FN=api|delivery|dead-letter|webhook EVENT=events/….json`, without Docker: runs the function's
# real binary on the event behind cargo-lambda's Lambda Runtime API emulator (`cargo lambda watch
# --only-lambda-apis`), sends the event with `cargo lambda invoke --data-file`, and prints the answer.
#
#   scripts/invoke.sh FN EVENT [FN EVENT ...]   one or more invocations, in order
#   scripts/invoke.sh --check-all               every event in events/ (function from the file name),
#                                               on a moto of its own, failing unless each answer is
#                                               the expected one (make test)
#
# The function runs against an AWS emulator: AWS_ENDPOINT_URL if set, else the moto of `make run` on
# 127.0.0.1:4566 if it is up, else a moto of its own on a free port. `outbox-local provision` creates
# the resources with the prefix INVOKE_PREFIX (default outbox-invoke, apart from make run's data) and
# seeds the local org, key and phone; the binary gets the OUTBOX_* variables that name them, as the
# template gives them in AWS. An event that names messages (api-status, the SQS batches) gets them
# recorded as `queued` first, copied from a real send by the API function.
#
# Binaries: the functions are built like sam build's x86_64 build (cargo lambda build --release), so
# after `make build-lambda ARCH=x86_64` or make test's sam build step nothing is compiled again; on
# an aarch64 Linux host the arm64 build. OUTBOX_LOCAL_BIN names the outbox-local to provision with
# (default: built with the local profile, as make run does). Logs: target/invoke/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lambda-common.sh

usage() {
  echo "usage: make invoke FN=api|delivery|dead-letter|webhook EVENT=events/<file>.json   (or scripts/invoke.sh --check-all)" >&2
  exit 2
}

check=0
pairs=()
if [ "${1:-}" = --check-all ]; then
  check=1
  for event in events/*.json; do
    case "$(basename "$event")" in
      api-*) pairs+=(api "$event") ;;
      delivery-*) pairs+=(delivery "$event") ;;
      dead-letter-*) pairs+=(dead-letter "$event") ;;
      webhook-*) pairs+=(webhook "$event") ;;
      *) echo "invoke: no function for $event (name it api-…, delivery-…, dead-letter-… or webhook-…)" >&2; exit 1 ;;
    esac
  done
else
  [ $# -ge 2 ] && [ $(($# % 2)) -eq 0 ] || usage
  pairs=("$@")
fi
fns=()
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  fn=${pairs[i]} event=${pairs[i + 1]}
  case "$fn" in api | delivery | dead-letter | webhook) ;; *) echo "invoke: FN must be api, delivery, dead-letter or webhook, not '$fn'" >&2; usage ;; esac
  [ -f "$event" ] || { echo "invoke: no event file '$event' (see events/)" >&2; exit 2; }
  fns+=("$fn")
done
# A send is the template of the fixtures, so the API function is needed whenever an event names messages.
fns+=(api)

start=$SECONDS
use_venv_tools
py=.venv/bin/python
logs=target/invoke
mkdir -p "$logs"

# The functions' binaries, for this machine's CPU.
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) arch_flag=() ;;
  Linux/aarch64 | Linux/arm64) arch_flag=(--arm64) ;;
  *) echo "invoke: the function binaries are Linux executables; on $(uname -s) use sam local invoke (Docker)" >&2; exit 1 ;;
esac
mapfile -t bins < <(printf 'outbox-%s\n' "${fns[@]}" | sort -u)
echo "invoke: building ${bins[*]} (release, cargo lambda build; nothing to compile after sam build)"
# One command per binary, exactly as sam build runs it, so that cargo finds sam build's output fresh.
for bin in "${bins[@]}"; do
  CARGO_TARGET_DIR=target cargo lambda build --release "${arch_flag[@]}" --bin "$bin" --lambda-dir "$logs/bin"
  # functions/no_pie.rs links each one position-dependent, so the loader relocates nothing at a cold
  # start; a build that lost it (or a linker that ignored -no-pie) would still pass every other check.
  readelf -h "$logs/bin/$bin/bootstrap" | grep -q 'Type: *EXEC' \
    || { echo "invoke: $bin was linked position-independent (functions/no_pie.rs not applied)" >&2; exit 1; }
done
if [ -z "${OUTBOX_LOCAL_BIN:-}" ]; then
  bash scripts/build-local.sh
  OUTBOX_LOCAL_BIN=$(bash scripts/build-local.sh --path)
fi

source scripts/processes.sh

# The emulator; --check-all (make test) always starts its own, so that nothing else can change its result.
[ "$check" = 1 ] && unset AWS_ENDPOINT_URL
if [ -z "${AWS_ENDPOINT_URL:-}" ] && [ "$check" = 0 ] && (exec 3<>/dev/tcp/127.0.0.1/4566) 2>/dev/null; then
  export AWS_ENDPOINT_URL=http://127.0.0.1:4566
  echo "invoke: using the emulator on $AWS_ENDPOINT_URL (make run's)"
elif [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  start_moto "$logs/moto.log" invoke
  export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
  echo "invoke: started moto on $AWS_ENDPOINT_URL (log: $logs/moto.log)"
else
  echo "invoke: using the emulator on $AWS_ENDPOINT_URL"
fi
prefix=${INVOKE_PREFIX:-outbox-invoke}
OUTBOX_LOCAL_PREFIX=$prefix "$OUTBOX_LOCAL_BIN" provision >"$logs/provision.log" 2>&1 \
  || { cat "$logs/provision.log" >&2; echo "invoke: outbox-local provision failed" >&2; exit 1; }
mapfile -t resources < <($py scripts/invoke_events.py env "$prefix")
table=${resources[0]#OUTBOX_TABLE=}
echo "invoke: resources $prefix-* provisioned, local org seeded (key local-dev-key, phone 15550100000)"

# The Runtime API emulator; each function binary connects to it in turn.
rt_port=$(free_port)
cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$rt_port" >"$logs/watch.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$rt_port") 2>/dev/null && break
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$logs/watch.log" >&2; echo "invoke: cargo lambda watch exited" >&2; exit 1; }
  sleep 0.1
done

# Runs one function binary on one event and leaves its answer in $logs/<n>.json.
invoke_once() {
  local fn=$1 event=$2 answer=$3 fn_pid invoke_pid status=0
  env "${resources[@]}" \
    AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    OUTBOX_RETRY_BASE_SECS=1 RUST_LOG="${RUST_LOG:-info}" \
    AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$rt_port/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
    AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 \
    "$logs/bin/outbox-$fn/bootstrap" >>"$logs/$fn.log" 2>&1 &
  fn_pid=$!
  pids+=("$fn_pid")
  timeout 60 cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$rt_port" --output-format json \
    --data-file "$event" >"$answer" 2>"$answer.err" &
  invoke_pid=$!
  pids+=("$invoke_pid")
  # A function that dies at start-up (a missing variable, a panic) would leave the invoke waiting.
  while kill -0 "$invoke_pid" 2>/dev/null; do
    if ! kill -0 "$fn_pid" 2>/dev/null; then
      kill "$invoke_pid" 2>/dev/null || true
      echo "the function exited before answering" >>"$answer.err"
      break
    fi
    sleep 0.1
  done
  wait "$invoke_pid" || status=$?
  kill "$fn_pid" 2>/dev/null || true
  wait "$fn_pid" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    cat "$answer.err" >&2
    tail -n 20 "$logs/$fn.log" >&2
    echo "invoke: $fn on $event failed (exit $status); function log: $logs/$fn.log" >&2
    return 1
  fi
}

template=""
n=0
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  fn=${pairs[i]} event=${pairs[i + 1]}
  n=$((n + 1))
  if $py scripts/invoke_events.py needs "$event"; then
    if [ -z "$template" ]; then
      echo "invoke: $event names messages; sending events/api-send.json through the API function to record one"
      invoke_once api events/api-send.json "$logs/template.json"
      template=$($py -c 'import json, sys; a = json.load(open(sys.argv[1])); print(json.loads(a["body"])["queue_id"])' "$logs/template.json")
    fi
    $py scripts/invoke_events.py fixtures "$table" "$template" "$event"
  fi
  echo "invoke: $fn <- $event ($((SECONDS - start))s)"
  invoke_once "$fn" "$event" "$logs/$n.json"
  $py scripts/invoke_events.py show "$fn" "$logs/$n.json"
  if [ "$check" = 1 ]; then
    $py scripts/invoke_events.py check "$fn" "$event" "$logs/$n.json" "$table"
  fi
done
echo "invoke: done in $((SECONDS - start))s (function logs: $logs/<fn>.log)"
