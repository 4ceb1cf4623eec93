"""template.yaml's alarms, dashboard and throughput limits: each alarm issue 12 asks for exists and
reads the resource it is about. Run by scripts/lint-template.sh (make test's template step)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
NAMESPACE = {"Fn::Sub": "Outbox/${AWS::StackName}"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text(encoding="utf-8"))


def alarm(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource = template["Resources"].get(logical_id)
    assert resource is not None, f"{logical_id} is missing"
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    return resource["Properties"]


def metric_stats(props: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric an alarm reads, a plain one or each of its metric-math inputs."""
    if "MetricName" in props:
        return [{"Namespace": props["Namespace"], "MetricName": props["MetricName"],
                 "Dimensions": props.get("Dimensions", [])}]
    return [query["MetricStat"]["Metric"] for query in props["Metrics"] if "MetricStat" in query]


def dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}


ALARMS = [
    "DeadLetterQueueSentAlarm", "DeadLetteredAlarm", "JobsQueueStuckAlarm", "TableThrottleAlarm", "FailureRateAlarm",
    "ApiFunctionErrorsAlarm", "ApiFunctionThrottlesAlarm", "DeliveryFunctionErrorsAlarm",
    "DeliveryFunctionThrottlesAlarm", "DeadLetterFunctionErrorsAlarm", "DeadLetterFunctionThrottlesAlarm",
    "EventsDeadLetterAlarm", "WebhookFunctionErrorsAlarm", "WebhookFunctionThrottlesAlarm",
    "StatusStreamFunctionErrorsAlarm", "StatusStreamFunctionThrottlesAlarm",
]


@pytest.mark.parametrize("logical_id", ALARMS)
def test_every_alarm_notifies_the_optional_topic(template: dict[str, Any], logical_id: str) -> None:
    props = alarm(template, logical_id)
    expected = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert props["AlarmActions"] == expected and props["OKActions"] == expected
    assert props["TreatMissingData"] == "notBreaching", "no data means nothing happened"
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_the_dlq_alarms_read_the_dlqs_sends_and_every_arrival(template: dict[str, Any]) -> None:
    [sent] = metric_stats(alarm(template, "DeadLetterQueueSentAlarm"))
    assert (sent["Namespace"], sent["MetricName"]) == ("AWS/SQS", "NumberOfMessagesSent")
    assert dimensions(sent) == {"QueueName": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}
    [arrived] = metric_stats(alarm(template, "DeadLetteredAlarm"))
    assert (arrived["Namespace"], arrived["MetricName"], dimensions(arrived)) == (NAMESPACE, "DeadLettered", {})
    [events] = metric_stats(alarm(template, "EventsDeadLetterAlarm"))
    assert (events["Namespace"], events["MetricName"]) == ("AWS/SQS", "NumberOfMessagesSent")
    assert dimensions(events) == {"QueueName": {"Fn::GetAtt": ["EventsDeadLetterQueue", "QueueName"]}}
    redrive = template["Resources"]["EventsQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}
    for logical_id in ("DeadLetterQueueSentAlarm", "DeadLetteredAlarm", "EventsDeadLetterAlarm"):
        props = alarm(template, logical_id)
        assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_the_stuck_alarm_reads_the_jobs_queues_oldest_age_past_the_longest_healthy_wait(template: dict[str, Any]) -> None:
    props = alarm(template, "JobsQueueStuckAlarm")
    [age] = metric_stats(props)
    assert (age["Namespace"], age["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert dimensions(age) == {"QueueName": {"Fn::GetAtt": ["JobsQueue", "QueueName"]}}
    [expression] = [query["Expression"] for query in props["Metrics"] if "Expression" in query]
    # 900 s (SQS's longest delay) + 90 s (3 attempts of the 30 s timeout) + 3.6 x base (gaps 1 + 2, +20%).
    assert expression == {"Fn::Sub": "age - (990 + 3.6 * ${RetryBaseSeconds})"}
    timeout = template["Resources"]["DeliveryFunction"]["Properties"]["Timeout"]
    assert 900 + 3 * timeout == 990
    base = template["Parameters"]["RetryBaseSeconds"]["Default"]
    threshold = 990 + 3.6 * base + props["Threshold"]
    assert 1000 < threshold < 1800, f"alarms after {threshold} s with the default base"


@pytest.mark.parametrize(
    "function", ["ApiFunction", "DeliveryFunction", "DeadLetterFunction", "StatusStreamFunction", "WebhookFunction"]
)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_each_function_has_an_errors_and_a_throttles_alarm_on_itself(
    template: dict[str, Any], function: str, metric: str
) -> None:
    [read] = metric_stats(alarm(template, f"{function}{metric}Alarm"))
    assert (read["Namespace"], read["MetricName"]) == ("AWS/Lambda", metric)
    assert dimensions(read) == {"FunctionName": {"Ref": function}}


def test_the_throttle_alarm_reads_the_tables_read_and_write_throttles(template: dict[str, Any]) -> None:
    reads = metric_stats(alarm(template, "TableThrottleAlarm"))
    assert sorted(m["MetricName"] for m in reads) == ["ReadThrottleEvents", "WriteThrottleEvents"]
    assert all(m["Namespace"] == "AWS/DynamoDB" and dimensions(m) == {"TableName": {"Ref": "Table"}} for m in reads)


def test_the_failure_rate_alarm_is_failed_over_finished_in_15_minutes_against_the_parameter(
    template: dict[str, Any],
) -> None:
    props = alarm(template, "FailureRateAlarm")
    reads = {query["Id"]: query["MetricStat"] for query in props["Metrics"] if "MetricStat" in query}
    assert {id: (s["Metric"]["Namespace"], s["Metric"]["MetricName"], s["Period"], s["Stat"]) for id, s in reads.items()} == {
        "sent": (NAMESPACE, "Sent", 900, "Sum"),
        "failed": (NAMESPACE, "Failed", 900, "Sum"),
    }
    [expression] = [query["Expression"] for query in props["Metrics"] if query.get("ReturnData")]
    assert "100 * FILL(failed, 0) / (FILL(sent, 0) + FILL(failed, 0))" in expression
    assert props["Threshold"] == {"Ref": "FailureRatePercent"}


def test_the_metric_namespace_the_alarms_read_is_the_one_the_functions_write(template: dict[str, Any]) -> None:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["OUTBOX_METRICS_NAMESPACE"] == NAMESPACE


def test_the_dashboard_is_valid_json_that_shows_every_alarm(template: dict[str, Any]) -> None:
    body, variables = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert variables == {"Ns": NAMESPACE}
    # Substitute every ${...} with a placeholder: what remains must parse.
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "0", body))
    alarm_widget = next(w for w in dashboard["widgets"] if w["type"] == "alarm")
    assert len(alarm_widget["properties"]["alarms"]) == len(ALARMS)
    for logical_id in ALARMS:
        assert "${" + logical_id + ".Arn}" in body


def test_throughput_limits_and_tracing_are_parameters(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    jobs = resources["DeliveryFunction"]["Properties"]["Events"]["Jobs"]["Properties"]
    assert jobs["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "DeliveryMaxConcurrency"}}
    assert template["Parameters"]["DeliveryMaxConcurrency"]["Default"] == 5
    for stage in (resources["HttpApi"]["Properties"], resources["HttpApiDefaultStage"]["Properties"]):
        assert stage["DefaultRouteSettings"] == {
            "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
            "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
        }
    assert resources["ApiFunction"]["Properties"]["ReservedConcurrentExecutions"]["Fn::If"][0] == "HasApiReservedConcurrency"
    assert template["Globals"]["Function"]["Tracing"] == {"Ref": "Tracing"}
    assert template["Parameters"]["Tracing"]["Default"] == "PassThrough"


def test_every_functions_role_may_write_traces_when_tracing_is_active(template: dict[str, Any]) -> None:
    # Lambda refuses Tracing: Active on a role without xray:PutTraceSegments, so a missing statement
    # fails the whole Tracing=Active deploy.
    resources = template["Resources"]
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 5, functions
    for name in functions:
        role = resources[name]["Properties"]["Role"]["Fn::GetAtt"]
        role = role[0] if isinstance(role, list) else role.split(".")[0]
        statements = [
            statement
            for policy in resources[role]["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
        ]
        tracing = [
            s["Fn::If"][1]
            for s in statements
            if isinstance(s, dict) and "Fn::If" in s and s["Fn::If"][0] == "TracingActive"
        ]
        assert len(tracing) == 1, f"{name}'s role {role} has no Tracing statement under TracingActive"
        assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= set(tracing[0]["Action"]), name


def test_every_function_of_the_template_has_its_errors_and_throttles_alarms(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    missing = [f"{f}{m}Alarm" for f in functions for m in ("Errors", "Throttles") if f"{f}{m}Alarm" not in resources]
    assert not missing, f"functions without their alarm: {missing}"
    assert all(f"{f}ErrorsAlarm" in ALARMS and f"{f}ThrottlesAlarm" in ALARMS for f in functions)
