#!/usr/bin/env bash
# `make run`: the whole stack on this machine. Starts moto on 127.0.0.1:$MOTO_PORT (4566) unless
# AWS_ENDPOINT_URL points at an emulator already running, then runs outbox-local in the foreground.
# On a fresh clone the Python tools install (network and pip) runs beside the cargo build (CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
moto_port=${MOTO_PORT:-4566}
# Before a build of minutes, not after it.
if [ -z "${AWS_ENDPOINT_URL:-}" ] && (exec 3<>"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null; then
  echo "Port $moto_port is already in use (another make run?). Stop what runs there, or use it with" >&2
  echo "AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port make run, or start moto elsewhere with MOTO_PORT=4577 make run." >&2
  exit 1
fi
mkdir -p .local
# The sandbox's messages go on to delivered and read, so the whole lifecycle runs locally.
export OUTBOX_SANDBOX_RECEIPTS=${OUTBOX_SANDBOX_RECEIPTS:-on}
venv_pid=""
if ! bash scripts/venv.sh --check; then
  echo "run: installing the Python tools into .venv beside the build (full log: .local/venv.log)"
  (
    set -o pipefail
    bash scripts/venv.sh 2>&1 | tee .local/venv.log | { grep --line-buffered '^venv:' || true; }
  ) &
  venv_pid=$!
fi
build_status=0
bash scripts/build-local.sh || build_status=$?
if [ -n "$venv_pid" ]; then
  echo "run: waiting for the Python tools"
  wait "$venv_pid" || { tail -n 30 .local/venv.log >&2; echo "run: installing the Python tools failed (log: .local/venv.log)" >&2; exit 1; }
fi
[ "$build_status" -eq 0 ] || exit "$build_status"
binary=$(bash scripts/build-local.sh --path)
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  # Its own session, so Ctrl-C reaches outbox-local first and the emulator outlives the last batch.
  setsid .venv/bin/python scripts/moto_server.py --port "$moto_port" > .local/moto.log 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
  export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null && break
    kill -0 "$moto_pid" 2>/dev/null || { cat .local/moto.log >&2; echo "moto failed to start" >&2; exit 1; }
    sleep 0.1
  done
  echo "moto server started on $AWS_ENDPOINT_URL (log: .local/moto.log)"
fi
"$binary" "$@"
