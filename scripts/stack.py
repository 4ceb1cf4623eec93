"""The deployed stack as `make deploy`, `make outputs` and `make admin-env` see it (boto3 from .venv).

    python scripts/stack.py status          # the stack's status in its region, or NONE; exit 2 without credentials
    python scripts/stack.py name|region     # the stack name and region sam deploy uses
    python scripts/stack.py arch            # the Architecture a previous guided deploy saved, or nothing
    python scripts/stack.py overrides ARCH  # samconfig's saved parameter overrides with Architecture=ARCH, one a line
    python scripts/stack.py outputs         # the stack outputs as a table
    python scripts/stack.py admin-env       # export lines for outbox-admin against the stack

The stack name and region come from samconfig.toml, where `sam deploy --guided` saves them; without
a saved region, AWS_REGION, AWS_DEFAULT_REGION or the profile's region.
"""
import os
import shlex
import sys
import tomllib

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

SAMCONFIG = "samconfig.toml"
# Every call is a single small request: fail within seconds instead of hanging on a bad network.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3})
# The outputs outbox-admin needs, by the variable it reads them from (template.yaml's Outputs).
NO_CREDENTIALS = (
    "No AWS credentials. Configure them first: `aws configure` (an access key), `aws sso login` with "
    "AWS_PROFILE set, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
)
ADMIN_VARIABLES = [
    ("OUTBOX_TABLE", "TableName"),
    ("OUTBOX_QUEUE_URL", "JobsQueueUrl"),
    ("OUTBOX_DLQ_URL", "DeadLetterQueueUrl"),
    ("OUTBOX_EVENTS_QUEUE_URL", "EventsQueueUrl"),
    ("OUTBOX_EVENTS_DLQ_URL", "EventsDeadLetterQueueUrl"),
    ("OUTBOX_MEDIA_BUCKET", "MediaBucketName"),
]


def samconfig() -> dict:
    with open(SAMCONFIG, "rb") as f:
        return tomllib.load(f).get("default", {})


def stack_name(config: dict) -> str:
    for section in ("deploy", "global"):
        name = config.get(section, {}).get("parameters", {}).get("stack_name")
        if name:
            return name
    return "outbox"


def saved_overrides(config: dict) -> list[str]:
    """`parameter_overrides` as guided deploy saves it: one string of Key=Value words, or a list."""
    saved = config.get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    return shlex.split(saved) if isinstance(saved, str) else list(saved)


def region(config: dict) -> str | None:
    saved = config.get("deploy", {}).get("parameters", {}).get("region")
    # boto3 reads AWS_DEFAULT_REGION and the profile; the Rust SDK (outbox-admin) reads AWS_REGION too.
    env = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return saved or env or boto3.session.Session().region_name


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def cloudformation(config: dict):
    where = region(config)
    if not where:
        fail("No AWS region: set AWS_REGION (e.g. export AWS_REGION=us-east-1) or run `make deploy` once.", 2)
    return boto3.client("cloudformation", region_name=where, config=CLIENT_CONFIG), where


def describe(config: dict) -> dict | None:
    name = stack_name(config)
    if boto3.session.Session().get_credentials() is None:
        fail(NO_CREDENTIALS, 2)
    client, where = cloudformation(config)
    try:
        return client.describe_stacks(StackName=name)["Stacks"][0]
    except NoCredentialsError:
        fail(NO_CREDENTIALS, 2)
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        fail(f"Cannot read stack {name} in {where}: {err}", 2)
    except (BotoCoreError, NoRegionError) as err:
        fail(f"Cannot reach CloudFormation in {where}: {err}", 2)


def deployed(config: dict) -> dict:
    stack = describe(config)
    if stack is None:
        fail(f"No stack named {stack_name(config)} in {region(config)}: run `make deploy` first.")
    return stack


def outputs(stack: dict) -> list[dict]:
    return stack.get("Outputs", [])


def main() -> None:
    if len(sys.argv) < 2:
        fail(__doc__)
    command, config = sys.argv[1], samconfig()
    if command == "status":
        if boto3.session.Session().get_credentials() is None:
            describe(config)  # fails with the message on credentials
        if not region(config):
            print("NONE")  # nothing deployed from here yet; the guided deploy asks for a region
            return
        stack = describe(config)
        print(stack["StackStatus"] if stack else "NONE")
    elif command == "name":
        print(stack_name(config))
    elif command == "region":
        print(region(config) or "")
    elif command == "arch":
        for word in saved_overrides(config):
            if word.startswith("Architecture="):
                print(word.split("=", 1)[1])
    elif command == "overrides":
        words = [w for w in saved_overrides(config) if not w.startswith("Architecture=")]
        print("\n".join(words + [f"Architecture={sys.argv[2]}"]))
    elif command == "outputs":
        stack = deployed(config)
        rows = [(o["OutputKey"], o["OutputValue"], o.get("Description", "")) for o in outputs(stack)]
        print(f"Stack {stack['StackName']} in {region(config)}: {stack['StackStatus']}")
        width = [max(len(r[i]) for r in rows + [("Output", "Value", "")]) for i in range(2)]
        print(f"{'Output':<{width[0]}}  {'Value':<{width[1]}}  Description")
        for key, value, description in rows:
            print(f"{key:<{width[0]}}  {value:<{width[1]}}  {description}")
    elif command == "admin-env":
        stack = deployed(config)
        values = {o["OutputKey"]: o["OutputValue"] for o in outputs(stack)}
        missing = [key for _, key in ADMIN_VARIABLES if key not in values]
        if missing:
            fail(f"Stack {stack['StackName']} has no output {', '.join(missing)}: is it an Outbox stack, fully deployed?")
        print(f"# outbox-admin against stack {stack['StackName']} ({region(config)}); paste, or: eval \"$(make -s admin-env)\"")
        for variable, key in ADMIN_VARIABLES:
            print(f"export {variable}={shlex.quote(values[key])}")
        print(f"export AWS_REGION={shlex.quote(region(config))}")
        # A leftover AWS_ENDPOINT_URL from local work would send outbox-admin to the emulator.
        print("unset AWS_ENDPOINT_URL")
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
