#!/usr/bin/env bash
# `make bench`: issue 5's figures, printed as a table and written to bench/results.json.
#
# Builds the release binaries (the local runner, the three Lambda binaries and the hello-world
# Lambda the cold starts are compared with), runs the criterion benchmark of the send handler
# (shared/benches/send_handler.rs, thread CPU time, in-memory ports), then bench/src/bin/outbox-bench,
# which starts its own moto on loopback and measures the rest. Extra arguments go to outbox-bench
# (see --help). Then the cost model (bench/src/cost, `cost`) prices a text, a 1 MB image and a
# broadcast of 1,000 from the real items and the durations just measured. Logs: target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh
cargo build --release --locked -p outbox-local -p outbox-api -p outbox-delivery -p outbox-dead-letter -p outbox-status-stream -p outbox-webhook -p outbox-bench --bins
cargo bench --locked -p outbox --bench send_handler -- --warm-up-time 1 --measurement-time 3
timeout --kill-after=10 1800 target/release/outbox-bench "$@"
target/release/cost --json target/bench/cost.json
