"""The AWS managed policies SAM may attach to a role it generates, embedded because `make iam` runs
offline.

SAM (samtranslator 1.110: model/sam_resources.py, model/eventsources/pull.py, model/xray_utils.py)
attaches AWSLambdaBasicExecutionRole to every role it generates, one execution-role policy per
pull event source (SQS, DynamoDB stream, Kinesis), and AWSXRayDaemonWriteAccess with
`Tracing: Active`. The documents are the default versions published in the AWS Managed Policy
Reference (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/<name>.html); the
version and date of each are noted. test_render.py checks them against the independent snapshot of
AWS's managed policies that moto ships (moto/iam/aws_managed_policies.py). A role that gets any
other managed policy makes the renderer stop and name it, so it is added here, never guessed.
"""

from __future__ import annotations

from typing import Any

_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]

# Name (the ARN after "policy/", path included) -> (version, date, document).
MANAGED_POLICIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": (
        "v1",
        "2015-04-09",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": _LOGS, "Resource": "*"}]},
    ),
    "service-role/AWSLambdaSQSQueueExecutionRole": (
        "v1",
        "2018-06-14",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS],
                    "Resource": "*",
                }
            ],
        },
    ),
    "service-role/AWSLambdaDynamoDBExecutionRole": (
        "v1",
        "2015-04-09",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                        "dynamodb:ListStreams",
                        *_LOGS,
                    ],
                    "Resource": "*",
                }
            ],
        },
    ),
    "AWSXRayDaemonWriteAccess": (
        "v2",
        "2024-02-13",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AWSXRayDaemonWriteAccess",
                    "Effect": "Allow",
                    "Action": [
                        "xray:PutTraceSegments",
                        "xray:PutTelemetryRecords",
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                        "xray:GetSamplingStatisticSummaries",
                    ],
                    "Resource": ["*"],
                }
            ],
        },
    ),
}


def name_of(arn: str) -> str | None:
    """`arn:<partition>:iam::aws:policy/<name>` -> name; None for a policy that is not AWS managed."""
    head, _, name = arn.partition(":iam::aws:policy/")
    return name if head.startswith("arn:") and name else None


def document(arn: str) -> dict[str, Any]:
    name = name_of(arn)
    if name is None or name not in MANAGED_POLICIES:
        raise KeyError(
            f"{arn} is attached by SAM but its document is not embedded in scripts/iam/managed_policies.py: "
            "add it from the AWS Managed Policy Reference"
        )
    return MANAGED_POLICIES[name][2]
