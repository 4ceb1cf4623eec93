"""What `make invoke` needs around a function's binary: its environment, the records an event names,
and (for `make test`) whether the answer is the one expected. Talks to the emulator with boto3.

    python scripts/invoke_events.py env PREFIX
        the Lambdas' OUTBOX_* variables for the resources `outbox-local provision` made with PREFIX
    python scripts/invoke_events.py needs EVENT
        exit 0 when EVENT names messages (by queue_id) that must exist, else 1
    python scripts/invoke_events.py fixtures TABLE TEMPLATE_QUEUE_ID EVENT
        writes a `queued` record for each message EVENT names, copied from a real record
    python scripts/invoke_events.py show FN RESPONSE
        prints the function's answer (an API answer's body decoded)
    python scripts/invoke_events.py check FN EVENT RESPONSE TABLE
        exit 1 unless the answer and the records it changed are the expected ones

The fixtures copy a record the API function itself wrote (a send of events/api-send.json), replacing
its ids, so they always have the record layout of the code under test.
"""
import json
import os
import re
import sys

import boto3
from botocore.config import Config

ORG = "org-local"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Where the delivery and dead-letter events leave a message they handled.
EXPECTED_STATUS = {"delivery": "sent", "dead-letter": "failed"}


def client(service: str):
    return boto3.client(
        service,
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
    )


def load(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def named_messages(event: dict) -> list[tuple[str, str]]:
    """(org, queue_id) of every message an SQS job body or an API path names."""
    found = []
    for record in event.get("Records", []):
        job = json.loads(record.get("body", "{}"))
        if job.get("queue_id"):
            found.append((job.get("org_id", ORG), job["queue_id"]))
    for queue_id in UUID.findall(event.get("rawPath", "")):
        found.append((ORG, queue_id))
    return found


def env(prefix: str) -> None:
    sqs = client("sqs")
    values = {
        "OUTBOX_TABLE": f"{prefix}-table",
        "OUTBOX_QUEUE_URL": sqs.get_queue_url(QueueName=f"{prefix}-jobs")["QueueUrl"],
        "OUTBOX_DLQ_URL": sqs.get_queue_url(QueueName=f"{prefix}-dlq")["QueueUrl"],
        "OUTBOX_EVENTS_QUEUE_URL": sqs.get_queue_url(QueueName=f"{prefix}-events")["QueueUrl"],
        "OUTBOX_EVENTS_DLQ_URL": sqs.get_queue_url(QueueName=f"{prefix}-events-dlq")["QueueUrl"],
        "OUTBOX_MEDIA_BUCKET": f"{prefix}-media",
    }
    for key, value in values.items():
        print(f"{key}={value}")


def key(org: str, queue_id: str) -> dict:
    return {"pk": {"S": f"MSG#{org}#{queue_id}"}, "sk": {"S": "MSG"}}


def get_record(table: str, org: str, queue_id: str) -> dict | None:
    return client("dynamodb").get_item(TableName=table, Key=key(org, queue_id), ConsistentRead=True).get("Item")


def replace_strings(value, old: str, new: str):
    """The DynamoDB item with every occurrence of one id replaced, in keys and attributes alike."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [replace_strings(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: replace_strings(v, old, new) for k, v in value.items()}
    return value


def fixtures(table: str, template_queue_id: str, event_path: str) -> None:
    template = get_record(table, ORG, template_queue_id)
    if template is None:
        sys.exit(f"fixtures: the API's send left no record {template_queue_id} in {table}")
    if template.get("status", {}).get("S") != "queued":
        sys.exit(f"fixtures: the template record is {template.get('status')}, not queued")
    unique_id = template["unique_id"]["S"]
    dynamodb = client("dynamodb")
    for org, queue_id in named_messages(load(event_path)):
        if org != ORG:
            sys.exit(f"fixtures: {event_path} names org {org}; the local seed has only {ORG}")
        # A unique_id of the same shape, derived from the queue_id so that each fixture has its own.
        fixture_unique_id = ("3EB0" + queue_id.replace("-", "").upper())[: len(unique_id)]
        item = replace_strings(replace_strings(template, template_queue_id, queue_id), unique_id, fixture_unique_id)
        dynamodb.put_item(TableName=table, Item=item)
        print(f"fixtures: message {queue_id} recorded as queued (org {org})")


def answer_of(response_path: str):
    with open(response_path, encoding="utf-8") as f:
        text = f.read().strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        sys.exit(f"the function's answer is not JSON: {text[:500]!r}")


def show(fn: str, response_path: str) -> None:
    answer = answer_of(response_path)
    if fn == "api" and isinstance(answer, dict) and isinstance(answer.get("body"), str):
        try:
            body = json.loads(answer["body"])
        except json.JSONDecodeError:
            body = answer["body"]
        print(json.dumps({"statusCode": answer.get("statusCode"), "body": body}, indent=2))
    else:
        print(json.dumps(answer, indent=2))


def check(fn: str, event_path: str, response_path: str, table: str) -> None:
    answer, event = answer_of(response_path), load(event_path)
    problems = []
    if fn == "api":
        if answer.get("statusCode") != 200:
            problems.append(f"statusCode {answer.get('statusCode')}, not 200")
        body = json.loads(answer.get("body") or "null")
        if event.get("body") and "send" in event.get("rawPath", "") and body.get("status") != "queued":
            problems.append(f"a send answered status {body.get('status')!r}, not 'queued'")
    else:
        if answer.get("batchItemFailures") != []:
            problems.append(f"batchItemFailures {answer.get('batchItemFailures')}, not []")
        for org, queue_id in named_messages(event):
            record = get_record(table, org, queue_id) or {}
            status = record.get("status", {}).get("S")
            if status != EXPECTED_STATUS[fn]:
                problems.append(f"message {queue_id} is {status}, not {EXPECTED_STATUS[fn]}")
    if problems:
        sys.exit(f"check {fn} {event_path}: " + "; ".join(problems))
    print(f"check {fn} {event_path}: ok")


def main() -> None:
    args = sys.argv[1:]
    commands = {
        ("env", 1): lambda: env(args[1]),
        ("needs", 1): lambda: sys.exit(0 if named_messages(load(args[1])) else 1),
        ("fixtures", 3): lambda: fixtures(args[1], args[2], args[3]),
        ("show", 2): lambda: show(args[1], args[2]),
        ("check", 4): lambda: check(args[1], args[2], args[3], args[4]),
    }
    command = commands.get((args[0], len(args) - 1)) if args else None
    if command is None:
        sys.exit(__doc__)
    command()


if __name__ == "__main__":
    main()
