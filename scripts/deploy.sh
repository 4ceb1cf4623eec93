#!/usr/bin/env bash
# `make deploy [ARCH=arm64|x86_64]` and `make destroy`: the stack in your AWS account.
#
# deploy: checks the Rust target and AWS credentials before anything long, builds with sam build
# (scripts/sam-build.sh), then `sam deploy`, guided (stack name, region, parameters, saved to
# samconfig.toml) when the stack does not exist yet, and with the saved settings after that. The
# Architecture parameter deployed is always the one just built, so the zips match the functions.
# ARCH defaults to what a guided deploy saved, else arm64.
#
# destroy: `sam delete` after a confirmation. The table and the media bucket are retained
# (DeletionPolicy: Retain) and are listed so that you can delete them by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lambda-common.sh

command=${1:-deploy}
use_venv_tools
py=.venv/bin/python

case "$command" in
deploy)
  arch=${ARCH:-$($py scripts/stack.py arch)}
  arch=${arch:-arm64}
  rust_target_of "$arch" >/dev/null
  MAKE_TARGET=deploy require_rust_target "$arch"
  echo "deploy: checking AWS credentials and whether the stack exists"
  state=$($py scripts/stack.py status)
  case "$state" in
    ROLLBACK_COMPLETE | ROLLBACK_FAILED | DELETE_FAILED)
      echo "deploy: the stack is $state (a first deploy that failed); CloudFormation cannot update it." >&2
      echo "Run \`make destroy\`, fix the cause shown in the CloudFormation console's Events tab, then \`make deploy\`." >&2
      exit 1
      ;;
    *_IN_PROGRESS)
      echo "deploy: the stack is $state; wait until it has finished, then run make deploy again." >&2
      exit 1
      ;;
  esac
  bash scripts/sam-build.sh "$arch"
  if [ "$state" = NONE ]; then
    echo "deploy: no stack yet, so sam deploy --guided: it asks for the stack name, region and parameters."
    echo "deploy: keep Architecture=$arch (what was just built), and answer Y to 'Save arguments to configuration file'."
    sam deploy --guided --parameter-overrides "Architecture=$arch"
    saved=$($py scripts/stack.py arch)
    if [ -n "$saved" ] && [ "$saved" != "$arch" ]; then
      # The functions now run on $saved with $arch binaries: rebuild for the choice and deploy again.
      echo "deploy: you chose Architecture=$saved but the build was $arch: rebuilding for $saved and deploying again"
      ARCH=$saved exec bash scripts/deploy.sh deploy
    fi
  else
    echo "deploy: the stack is $state; sam deploy with the settings saved in samconfig.toml"
    # Command-line overrides replace the saved ones as a whole, so the saved ones are passed along.
    mapfile -t overrides < <($py scripts/stack.py overrides "$arch")
    sam deploy --stack-name "$($py scripts/stack.py name)" --region "$($py scripts/stack.py region)" \
      --parameter-overrides "${overrides[@]}"
  fi
  $py scripts/stack.py outputs
  echo "deploy: next, \`eval \"\$(make -s admin-env)\"\` and create an org, key and phone with outbox-admin (README)"
  ;;
destroy)
  state=$($py scripts/stack.py status)
  if [ "$state" = NONE ]; then
    echo "destroy: no stack to delete"
    exit 0
  fi
  stack=$($py scripts/stack.py name)
  echo "destroy: this deletes stack $stack ($state): the API, the functions, the queues (with any job"
  echo "still in them) and the log groups. The table and the media bucket are kept (DeletionPolicy: Retain)."
  read -r -p "Type the stack name to delete it: " answer
  if [ "$answer" != "$stack" ]; then
    echo "destroy: not deleted"
    exit 1
  fi
  $py scripts/stack.py outputs | grep -E '^(TableName|MediaBucketName) ' || true
  # sam delete asks again for itself; --no-prompts since the name was typed above.
  sam delete --stack-name "$stack" --region "$($py scripts/stack.py region)" --no-prompts
  echo "destroy: done. The retained table and bucket above still cost storage; delete them in the console when unneeded."
  ;;
*)
  echo "usage: scripts/deploy.sh deploy|destroy" >&2
  exit 2
  ;;
esac
