#!/usr/bin/env bash
# `make run`: the whole stack on this machine. Starts moto on 127.0.0.1:4566 unless
# AWS_ENDPOINT_URL points at an emulator already running, then runs outbox-local in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
mkdir -p .local
cargo build --release -p outbox-local
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  if (exec 3<>/dev/tcp/127.0.0.1/4566) 2>/dev/null; then
    echo "Port 4566 is already in use. Stop what runs there, or point AWS_ENDPOINT_URL at it to use it." >&2
    exit 1
  fi
  # Its own session, so Ctrl-C reaches outbox-local first and the emulator outlives the last batch.
  setsid .venv/bin/python scripts/moto_server.py --port 4566 > .local/moto.log 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
  export AWS_ENDPOINT_URL=http://127.0.0.1:4566
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/4566) 2>/dev/null && break
    kill -0 "$moto_pid" 2>/dev/null || { cat .local/moto.log >&2; echo "moto failed to start" >&2; exit 1; }
    sleep 0.1
  done
  echo "moto server started on $AWS_ENDPOINT_URL (log: .local/moto.log)"
fi
target/release/outbox-local "$@"
