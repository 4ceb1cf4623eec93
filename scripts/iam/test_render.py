"""Tests of the renderer: what it reads from a template is what SAM deploys, resolved locally."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import managed_policies
import pytest
import render
from moto.iam.aws_managed_policies import aws_managed_policies_data

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ENV = {
    "OUTBOX_TABLE": "t1-table",
    "OUTBOX_QUEUE_URL": "http://127.0.0.1:1/123456789012/t1-jobs",
    "OUTBOX_DLQ_URL": "http://127.0.0.1:1/123456789012/t1-dlq",
    "OUTBOX_MEDIA_BUCKET": "t1-media",
}
ARN = "arn:aws:{}:us-east-1:123456789012:{}"
# What the emulator answers for a table's StreamArn (stack.py looks it up in moto).
STREAM = "table/t1-table/stream/2026-01-01T00:00:00.000"


def lookup(kind: str, ref: str, attribute: str) -> str:
    if (kind, attribute) != ("AWS::DynamoDB::Table", "StreamArn"):
        raise render.RenderError(f"GetAtt {attribute} of a {kind} is not resolved for the local stack")
    return ARN.format("dynamodb", f"table/{ref}/stream/2026-01-01T00:00:00.000")


def rendered(sam: dict) -> tuple[dict, list[render.Function], list[render.Identity], render.Resolver]:
    cfn = render.translate(sam, "t1")
    funcs = render.functions(cfn, sam)
    refs = render.bind_environment(funcs, LOCAL_ENV)
    resolver = render.Resolver(cfn, render.LocalStack("t1", render.parameters(sam, "t1"), refs, lookup))
    return cfn, funcs, render.identities(cfn, funcs), resolver


def allowed(identity: render.Identity, resolver: render.Resolver) -> set[tuple[str, str]]:
    pairs = set()
    for _, document, _ in identity.policies:
        for statement in render.statements(resolver.resolve(document)):
            for action in render.as_list(statement["Action"]):
                pairs |= {(action, resource) for resource in render.as_list(statement["Resource"])}
    return pairs


def sam_function(**properties: object) -> dict:
    """A minimal SAM template with one function named Fn and the resources it may refer to."""
    props = {"CodeUri": ".", "Handler": "bootstrap", "Runtime": "provided.al2023", **properties}
    props.setdefault("Environment", {"Variables": {"OUTBOX_QUEUE_URL": {"Ref": "Jobs"}}})
    return {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Metadata": {"BuildProperties": {"Binary": "outbox-fn"}},
                   "Properties": props},
            "Jobs": {"Type": "AWS::SQS::Queue"},
            render.OPERATOR_POLICY: {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Jobs", "Arn"]}}],
            }}},
        },
    }


def test_embedded_managed_policies_match_the_snapshot_moto_ships() -> None:
    snapshot = json.loads(aws_managed_policies_data)
    for name, (version, _, document) in managed_policies.MANAGED_POLICIES.items():
        theirs = snapshot[name.split("/")[-1]]
        assert theirs["DefaultVersionId"] == version, name
        assert json.dumps(theirs["Document"], sort_keys=True) == json.dumps(document, sort_keys=True), name


def test_every_function_of_the_template_gets_its_own_role_with_the_two_fixed_gaps() -> None:
    _, funcs, identities, resolver = rendered(render.load(str(ROOT / "template.yaml")))
    roles = {f.logical_id: f.role for f in funcs}
    assert set(roles) >= {"ApiFunction", "DeliveryFunction", "DeadLetterFunction", "StatusStreamFunction"}
    by_id = {i.logical_id: i for i in identities}
    api = allowed(by_id[roles["ApiFunction"]], resolver)
    assert ("dynamodb:BatchGetItem", ARN.format("dynamodb", "table/t1-table")) in api
    stream = allowed(by_id[roles["StatusStreamFunction"]], resolver)
    assert ("dynamodb:GetRecords", ARN.format("dynamodb", STREAM)) in stream
    assert ("dynamodb:UpdateItem", ARN.format("dynamodb", "table/t1-table")) in stream
    delivery = allowed(by_id[roles["DeliveryFunction"]], resolver)
    assert ("sqs:SendMessage", ARN.format("sqs", "t1-jobs")) in delivery
    assert ("sqs:SendMessage", ARN.format("sqs", "t1-dlq")) in delivery
    assert render.OPERATOR_POLICY in by_id
    assert [p for i in identities for p in render.wildcard_grants(i, resolver)] == []


def test_a_role_sam_generates_gets_the_managed_policies_sam_attaches_and_they_are_flagged() -> None:
    sam = sam_function(
        Policies=[{"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Jobs", "Arn"]}}]}],
        Events={"Jobs": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Jobs", "Arn"]}}}},
    )
    _, funcs, identities, resolver = rendered(sam)
    role = next(i for i in identities if i.functions == ["Fn"])
    sources = [source for _, _, source in role.policies]
    assert "AWS managed: service-role/AWSLambdaBasicExecutionRole" in sources
    assert "AWS managed: service-role/AWSLambdaSQSQueueExecutionRole" in sources
    assert ("sqs:SendMessage", ARN.format("sqs", "t1-jobs")) in allowed(role, resolver)
    assert funcs[0].event_sources == [{"Fn::GetAtt": ["Jobs", "Arn"]}]
    assert any("sqs:ReceiveMessage on \"*\"" in p for p in render.wildcard_grants(role, resolver))


def test_policies_next_to_a_role_are_refused_because_sam_would_drop_them() -> None:
    sam = sam_function(Role="arn:aws:iam::123456789012:role/x", Policies=["AWSLambdaBasicExecutionRole"])
    with pytest.raises(render.RenderError, match="ignores Policies"):
        rendered(sam)


def test_intrinsics_resolve_against_the_local_stack() -> None:
    sam = sam_function()
    sam["Conditions"] = {"Always": {"Fn::Equals": ["a", "a"]}}
    sam["Resources"]["Topic"] = {"Type": "AWS::SNS::Topic"}
    _, _, _, resolver = rendered(sam)
    assert resolver.resolve({"Fn::Sub": "${Jobs.Arn}/x/${AWS::Region}/${!Literal}"}) == ARN.format("sqs", "t1-jobs") + "/x/us-east-1/${Literal}"
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "AWS::StackName"}]]}) == "a-t1"
    assert resolver.resolve({"Fn::If": ["Always", "yes", {"Ref": "AWS::NoValue"}]}) == "yes"
    assert resolver.resolve(["x", {"Fn::If": ["Always", {"Ref": "AWS::NoValue"}, "y"]}]) == ["x"]
    with pytest.raises(render.RenderError, match="no local resource"):
        resolver.resolve({"Ref": "Topic"})
    with pytest.raises(render.RenderError, match="not resolved"):
        resolver.resolve({"Fn::GetAtt": ["Jobs", "RedrivePolicy"]})


def test_an_action_can_be_removed_from_one_statement() -> None:
    cfn = render.translate(render.load(str(ROOT / "template.yaml")), "t1")
    identities = render.identities(cfn, render.functions(cfn, render.load(str(ROOT / "template.yaml"))))
    actions = render.template_actions(cfn, identities)
    assert "DeliveryFunctionRole/ConsumeJobs/sqs:SendMessage" in actions
    assert "DeliveryFunctionRole/DeadLetterPoison/sqs:SendMessage" in actions
    before = copy.deepcopy(cfn)
    render.remove_action(cfn, "DeliveryFunctionRole/ConsumeJobs/sqs:SendMessage")
    after = render.template_actions(cfn, identities)
    assert set(actions) - set(after) == {"DeliveryFunctionRole/ConsumeJobs/sqs:SendMessage"}
    assert cfn != before
    with pytest.raises(render.RenderError, match="no statement"):
        render.remove_action(cfn, "DeliveryFunctionRole/ConsumeJobs/sqs:SendMessage")
