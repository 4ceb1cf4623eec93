#!/usr/bin/env bash
# `make iam` (and a step of `make test`): the black-box suite against moto with template.yaml's IAM
# enforced, each function in its own process under its own role (scripts/iam/run.py says how).
#
#   bash scripts/iam.sh                       the suite once
#   bash scripts/iam.sh --mutations quick     also three representative removals, each must be caught
#   bash scripts/iam.sh --mutations all       every action the template allows, removed one at a time
#
# Reuses the debug build of `make test`'s build step. Logs: target/iam/<run>/ (target/iam/latest).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1

mutations=""
if [ "${1:-}" = "--mutations" ]; then
  mutations=${2:?"--mutations needs quick or all"}
  shift 2
fi

bash scripts/venv.sh
cargo build --locked -p outbox-local -p outbox-admin --quiet
.venv/bin/python -m pytest -q -p no:cacheprovider scripts/iam/test_render.py
timeout --kill-after=10 900 .venv/bin/python scripts/iam/run.py "$@"

case "$mutations" in
  "") ;;
  # The two gaps this harness was built to catch, and an operator permission.
  quick)
    timeout --kill-after=10 900 .venv/bin/python scripts/iam/mutate.py \
      --only ApiFunctionRole/MessagesTable/dynamodb:BatchGetItem \
      --only DeliveryFunctionRole/ConsumeJobs/sqs:SendMessage \
      --only OperatorPolicy/ProviderSecrets/secretsmanager:CreateSecret ;;
  all) .venv/bin/python scripts/iam/mutate.py ;;
  *) echo "iam: --mutations takes quick or all, not $mutations" >&2; exit 2 ;;
esac
