#!/usr/bin/env bash
# Creates (or refreshes) the project-local virtualenv with the Python tools in requirements-dev.txt.
# Re-runs pip only when requirements-dev.txt changed since the last successful install (`--check`
# only says whether it would: exit 0 when the venv is up to date). Prints one
# line per stage and pip's own progress, because a first install takes minutes (aws-sam-cli and
# its dependencies are the bulk) and silence looks like a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
up_to_date() { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }
up_to_date && exit 0
[ "${1:-}" = --check ] && exit 1

# Two callers at once (make run beside make test) would interleave two pip runs in one venv.
mkdir -p "$venv"
exec 9>"$venv/.lock"
if ! flock -n 9; then
  echo "venv: another install into $venv is running; waiting for it"
  flock 9
fi
up_to_date && exit 0

start=$SECONDS
say() { printf 'venv: %s (%ds)\n' "$1" $((SECONDS - start)); }
say "creating $venv with $(python3 --version 2>&1)"
python3 -m venv "$venv"
say "installing requirements-dev.txt (moto, cfn-lint, aws-sam-cli, cargo-lambda with zig, schemathesis): a few minutes on a fresh machine"
# pip prints one line per package it collects and one when it installs; the bar only on a terminal.
progress=off
[ -t 1 ] && progress=on
# A refresh would list every package already there; only what changes is worth a line.
"$venv/bin/pip" install --disable-pip-version-check --progress-bar "$progress" -r requirements-dev.txt \
  | { grep -v '^Requirement already satisfied' || true; }
echo "$want" > "$stamp"
say "done: $venv/bin has sam, cargo-lambda, cfn-lint, moto_server, schemathesis"
