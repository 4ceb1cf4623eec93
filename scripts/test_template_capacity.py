"""template.yaml's TableBillingMode, rendered both ways: on demand the table and its indexes have no
throughput and no auto scaling exists; provisioned, the table and every index it declares get
throughput and read and write auto scaling at 70% utilisation between the capacity parameters.
Run by scripts/lint-template.sh (make lint, make test's template step)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
SCALING_TYPES = {"AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text(encoding="utf-8"))


def condition(template: dict[str, Any], expression: Any, parameters: dict[str, Any]) -> bool:
    """A condition's value for these parameter values (the intrinsics conditions may use)."""
    if isinstance(expression, dict) and len(expression) == 1:
        [(name, args)] = expression.items()
        if name == "Condition":
            return condition(template, template["Conditions"][args], parameters)
        if name == "Fn::Equals":
            left, right = (resolve(template, arg, parameters) for arg in args)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not condition(template, args[0], parameters)
        if name == "Fn::And":
            return all(condition(template, arg, parameters) for arg in args)
        if name == "Fn::Or":
            return any(condition(template, arg, parameters) for arg in args)
    raise AssertionError(f"cannot evaluate the condition {expression!r}")


NO_VALUE = object()


def resolve(template: dict[str, Any], value: Any, parameters: dict[str, Any]) -> Any:
    """`value` with every Fn::If chosen and parameter Ref replaced; AWS::NoValue drops the key."""
    if isinstance(value, dict):
        if list(value) == ["Fn::If"]:
            name, then, otherwise = value["Fn::If"]
            chosen = then if condition(template, template["Conditions"][name], parameters) else otherwise
            return resolve(template, chosen, parameters)
        if list(value) == ["Ref"]:
            if value["Ref"] == "AWS::NoValue":
                return NO_VALUE
            if value["Ref"] in template["Parameters"]:
                return parameters.get(value["Ref"], template["Parameters"][value["Ref"]].get("Default"))
            return value
        resolved = {key: resolve(template, item, parameters) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}
    if isinstance(value, list):
        return [item for item in (resolve(template, item, parameters) for item in value) if item is not NO_VALUE]
    return value


def rendered(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The resources CloudFormation would create for these parameters, their Fn::If resolved."""
    return {
        logical_id: resolve(template, resource, parameters)
        for logical_id, resource in template["Resources"].items()
        if "Condition" not in resource or condition(template, {"Condition": resource["Condition"]}, parameters)
    }


def test_on_demand_is_the_default_and_provisioned_the_alternative(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["TableBillingMode"]
    assert parameter["Default"] == "PAY_PER_REQUEST"
    assert parameter["AllowedValues"] == ["PAY_PER_REQUEST", "PROVISIONED"]
    for name in ("MinReadCapacity", "MaxReadCapacity", "MinWriteCapacity", "MaxWriteCapacity"):
        assert template["Parameters"][name]["Type"] == "Number"
        assert template["Parameters"][name]["Default"] >= 1
    for dimension in ("Read", "Write"):
        low = template["Parameters"][f"Min{dimension}Capacity"]["Default"]
        assert low <= template["Parameters"][f"Max{dimension}Capacity"]["Default"]


def test_on_demand_renders_no_throughput_and_no_scaling(template: dict[str, Any]) -> None:
    resources = rendered(template, {"TableBillingMode": "PAY_PER_REQUEST"})
    table = resources["Table"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in table
    assert all("ProvisionedThroughput" not in index for index in table["GlobalSecondaryIndexes"])
    assert [id for id, r in resources.items() if r["Type"] in SCALING_TYPES] == []


def scaled(resources: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(ResourceId, ScalableDimension) → the target's properties, for every scalable target."""
    return {
        (str(r["Properties"]["ResourceId"]), r["Properties"]["ScalableDimension"]): r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    }


def test_provisioned_scales_the_table_and_every_index_it_declares_at_70_percent(template: dict[str, Any]) -> None:
    resources = rendered(template, {"TableBillingMode": "PROVISIONED"})
    table = resources["Table"]["Properties"]
    minimum = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 5}
    assert table["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"] == minimum
    indexes = [index["IndexName"] for index in table["GlobalSecondaryIndexes"]]
    for index in table["GlobalSecondaryIndexes"]:
        assert index["ProvisionedThroughput"] == minimum, index["IndexName"]
    expected = {(f"{{'Fn::Sub': 'table/${{Table}}'}}", f"dynamodb:table:{d}CapacityUnits") for d in ("Read", "Write")}
    expected |= {
        (f"{{'Fn::Sub': 'table/${{Table}}/index/{name}'}}", f"dynamodb:index:{d}CapacityUnits")
        for name in indexes
        for d in ("Read", "Write")
    }
    targets = scaled(resources)
    # No more and no fewer: a target for an index the table lost would fail the deploy.
    assert set(targets) == expected
    for (_, dimension), target in targets.items():
        kind = "Read" if "Read" in dimension else "Write"
        assert (target["ServiceNamespace"], target["MinCapacity"], target["MaxCapacity"]) == (
            "dynamodb",
            template["Parameters"][f"Min{kind}Capacity"]["Default"],
            template["Parameters"][f"Max{kind}Capacity"]["Default"],
        )
    policies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"]
    assert len(policies) == len(targets), "one policy per scalable target"
    by_target = {policy["ScalingTargetId"]["Ref"]: policy for policy in policies}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::ApplicationAutoScaling::ScalableTarget":
            continue
        policy = by_target[logical_id]
        kind = "Read" if "Read" in resource["Properties"]["ScalableDimension"] else "Write"
        config = policy["TargetTrackingScalingPolicyConfiguration"]
        assert policy["PolicyType"] == "TargetTrackingScaling"
        assert config["TargetValue"] == 70
        assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == f"DynamoDB{kind}CapacityUtilization"


def test_the_capacity_parameters_reach_the_targets(template: dict[str, Any]) -> None:
    parameters = {"TableBillingMode": "PROVISIONED", "MinWriteCapacity": 20, "MaxWriteCapacity": 400}
    resources = rendered(template, parameters)
    assert resources["Table"]["Properties"]["ProvisionedThroughput"]["WriteCapacityUnits"] == 20
    writes = [t for (_, d), t in scaled(resources).items() if d.endswith("WriteCapacityUnits")]
    assert writes and all((t["MinCapacity"], t["MaxCapacity"]) == (20, 400) for t in writes)
