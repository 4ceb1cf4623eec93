#!/usr/bin/env bash
# Lints template.yaml offline: `sam validate --lint` (SAM transform + cfn-lint) and cfn-lint itself,
# then checks its alarms (scripts/test_template_alarms.py) and renders TableBillingMode both ways
# (scripts/test_template_capacity.py).
# Needs no AWS account: dummy credentials keep boto3 quiet and telemetry is off. (SAM CLI may still
# ask PyPI for a newer version once a week; offline that gives up after 5 s and changes nothing.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh

export AWS_ACCESS_KEY_ID=lint-only AWS_SECRET_ACCESS_KEY=lint-only AWS_DEFAULT_REGION=us-east-1
export SAM_CLI_TELEMETRY=0
# Ignore any ~/.aws config or profile, so a developer's settings cannot change the result.
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

.venv/bin/sam validate --lint --template template.yaml --region us-east-1
.venv/bin/cfn-lint template.yaml
# Each alarm of issue 12 exists and reads the resource it is about; the dashboard is valid JSON;
# TableBillingMode PAY_PER_REQUEST renders no capacity, PROVISIONED scales the table and every index.
.venv/bin/python -m pytest -q -p no:cacheprovider scripts/test_template_alarms.py scripts/test_template_capacity.py
echo "template.yaml: sam validate --lint, cfn-lint, the alarm and the capacity checks passed"
