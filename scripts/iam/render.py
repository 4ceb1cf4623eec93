"""What each identity of template.yaml may do, as SAM deploys it, with ARNs of the local stack.

template.yaml goes through SAM's own translator (samtranslator, as `sam deploy` does), so the
policies are the template's statements, SAM's policy templates expanded and the managed policies
SAM attaches, never a copy made by hand. Every AWS::Lambda::Function of the result becomes an
identity (its execution role), so a function added to the template is checked without a list to
maintain; the operator is the managed policy `OperatorPolicy`. Intrinsics are resolved here
against the local resources: a resource that a function's environment names (`OUTBOX_TABLE:
!Ref Table`) is the one the local runner uses for that variable.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import managed_policies
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
PARTITION = "aws"
OPERATOR_POLICY = "OperatorPolicy"

# Actions that support no resource-level permissions, so "*" is their least privilege.
RESOURCELESS_ACTIONS = {
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
}


class RenderError(Exception):
    """The template cannot be rendered for the local stack; the message says what to change."""


@dataclass
class Function:
    logical_id: str
    binary: str
    role: str  # logical id of its execution role
    environment: dict[str, Any]
    event_sources: list[Any]  # EventSourceArn of each event source mapping, unresolved


@dataclass
class Identity:
    """An IAM principal of the stack: a function's execution role, or the operator."""

    logical_id: str  # the role's (or the operator policy's) logical id
    kind: str  # "role" or "user"
    trust: dict[str, Any] | None
    # (policy name, document, where it comes from), documents unresolved.
    policies: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)


def load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as source:
        return yaml_parse(source.read())


def _local_code_uris(sam: dict[str, Any]) -> None:
    """samtranslator accepts only S3 code locations; `sam build` replaces local ones the same way."""
    globals_function = sam.get("Globals", {}).get("Function", {})
    if isinstance(globals_function.get("CodeUri"), str):
        globals_function["CodeUri"] = "s3://local/code.zip"
    for resource in sam.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://local/code.zip"


def pseudo_parameters(stack: str) -> dict[str, str]:
    return {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": PARTITION,
        "AWS::StackName": stack,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/local",
    }


def parameters(sam: dict[str, Any], stack: str, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    values = {name: spec["Default"] for name, spec in sam.get("Parameters", {}).items() if "Default" in spec}
    values.update(overrides or {})
    values.update(pseudo_parameters(stack))
    return values


def translate(sam: dict[str, Any], stack: str, overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation template `sam deploy` would create (samtranslator, offline)."""
    sam = copy.deepcopy(sam)
    _local_code_uris(sam)
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="offline", aws_secret_access_key="offline")
    translator = Translator(None, Parser(), boto_session=session)
    # SAM asks for the managed-policy map only when Policies name a managed policy by name.
    known = {name.split("/")[-1]: f"arn:{PARTITION}:iam::aws:policy/{name}" for name in managed_policies.MANAGED_POLICIES}
    return translator.translate(sam, parameters(sam, stack, overrides), get_managed_policy_map=lambda: known)


def _ref_target(value: Any) -> str | None:
    """The logical id in `{"Ref": X}` or `{"Fn::GetAtt": [X, ...]}`."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return target[0] if isinstance(target, list) else str(target).split(".")[0]
    return None


def functions(cfn: dict[str, Any], sam: dict[str, Any]) -> list[Function]:
    for logical_id, resource in sam.get("Resources", {}).items():
        props = resource.get("Properties", {}) if resource.get("Type") == "AWS::Serverless::Function" else {}
        if props.get("Role") and props.get("Policies"):
            # SAM drops Policies silently when a Role is given; so would the deployment.
            raise RenderError(f"{logical_id}: SAM ignores Policies when Role is set; put the statements in its role")
    resources = cfn["Resources"]
    found = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        props = resource.get("Properties", {})
        role = _ref_target(props.get("Role"))
        if role is None or resources.get(role, {}).get("Type") != "AWS::IAM::Role":
            raise RenderError(f"{logical_id}: its Role is not a role of this template, so its permissions cannot be checked")
        metadata = sam["Resources"].get(logical_id, {}).get("Metadata", {})
        binary = metadata.get("BuildProperties", {}).get("Binary")
        if not binary:
            raise RenderError(f"{logical_id}: Metadata.BuildProperties.Binary names no binary")
        sources = [
            r["Properties"].get("EventSourceArn")
            for r in resources.values()
            if r.get("Type") == "AWS::Lambda::EventSourceMapping"
            and _ref_target(r["Properties"].get("FunctionName")) == logical_id
        ]
        found.append(
            Function(
                logical_id=logical_id,
                binary=binary,
                role=role,
                environment=props.get("Environment", {}).get("Variables", {}),
                event_sources=sources,
            )
        )
    return sorted(found, key=lambda f: f.logical_id)


def _attached_to(policy: dict[str, Any], key: str, logical_id: str) -> bool:
    return any(_ref_target(item) == logical_id for item in policy.get("Properties", {}).get(key, []) or [])


def _managed(cfn: dict[str, Any], arn: Any) -> tuple[str, dict[str, Any], str]:
    target = _ref_target(arn)
    if target is not None and cfn["Resources"].get(target, {}).get("Type") == "AWS::IAM::ManagedPolicy":
        return target, cfn["Resources"][target]["Properties"]["PolicyDocument"], f"template: {target}"
    resolved = _resolve_partition_only(arn)
    name = managed_policies.name_of(resolved)
    return name or resolved, managed_policies.document(resolved), f"AWS managed: {name}"


def _resolve_partition_only(arn: Any) -> str:
    """SAM writes managed ARNs as Fn::Sub over ${AWS::Partition} only."""
    if isinstance(arn, dict) and "Fn::Sub" in arn and isinstance(arn["Fn::Sub"], str):
        return arn["Fn::Sub"].replace("${AWS::Partition}", PARTITION)
    if isinstance(arn, str):
        return arn
    raise RenderError(f"cannot read the managed policy ARN {arn!r}")


def identities(cfn: dict[str, Any], funcs: list[Function]) -> list[Identity]:
    resources = cfn["Resources"]
    found: dict[str, Identity] = {}
    for function in funcs:
        identity = found.get(function.role)
        if identity is None:
            role = resources[function.role]["Properties"]
            if role.get("PermissionsBoundary"):
                raise RenderError(f"{function.role}: permission boundaries are not emulated by moto; check by hand")
            identity = Identity(function.role, "role", role.get("AssumeRolePolicyDocument"))
            for inline in role.get("Policies", []) or []:
                identity.policies.append((inline["PolicyName"], inline["PolicyDocument"], f"template: {function.role}"))
            for arn in role.get("ManagedPolicyArns", []) or []:
                identity.policies.append(_managed(cfn, arn))
            for logical_id, policy in resources.items():
                kind = policy.get("Type")
                if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and _attached_to(policy, "Roles", function.role):
                    identity.policies.append((logical_id, policy["Properties"]["PolicyDocument"], f"template: {logical_id}"))
            found[function.role] = identity
        identity.functions.append(function.logical_id)
    operator = resources.get(OPERATOR_POLICY)
    if operator is None or operator.get("Type") != "AWS::IAM::ManagedPolicy":
        raise RenderError(f"template.yaml has no AWS::IAM::ManagedPolicy {OPERATOR_POLICY} (what outbox-admin may do)")
    found[OPERATOR_POLICY] = Identity(
        OPERATOR_POLICY, "user", None, [(OPERATOR_POLICY, operator["Properties"]["PolicyDocument"], "template")]
    )
    return list(found.values())


# ---------------------------------------------------------------- intrinsics

_NO_VALUE = object()


@dataclass
class LocalStack:
    """The local twin of the stack: names and lookups the intrinsics resolve to."""

    stack: str
    params: dict[str, Any]
    # Logical id -> what `Ref` gives locally (a table name, a queue URL, a bucket name).
    refs: dict[str, str]
    # (logical id, attribute) -> value looked up in the emulator (e.g. a table's StreamArn).
    lookup: Callable[[str, str, str], str] | None = None


def bind_environment(funcs: list[Function], local_env: dict[str, str]) -> dict[str, str]:
    """Logical id -> local physical id, from variables like `OUTBOX_TABLE: !Ref Table`."""
    refs: dict[str, str] = {}
    for function in funcs:
        for name, value in function.environment.items():
            if isinstance(value, dict) and set(value) == {"Ref"} and name in local_env:
                target = value["Ref"]
                if refs.setdefault(target, local_env[name]) != local_env[name]:
                    raise RenderError(f"{target} is {refs[target]} and {local_env[name]} locally")
    return refs


class Resolver:
    def __init__(self, cfn: dict[str, Any], local: LocalStack) -> None:
        self.resources = cfn["Resources"]
        self.conditions = cfn.get("Conditions", {})
        self.local = local

    def resolve(self, value: Any) -> Any:
        result = self._value(value)
        return None if result is _NO_VALUE else result

    def _value(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._value(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            handler = {
                "Ref": self._ref,
                "Fn::GetAtt": self._getatt,
                "Fn::Sub": self._sub,
                "Fn::Join": self._join,
                "Fn::Select": self._select,
                "Fn::Split": self._split,
                "Fn::If": self._if,
            }.get(key)
            if handler is not None:
                return handler(arg)
            if key.startswith("Fn::"):
                raise RenderError(f"{key} is not resolved for the local stack")
        resolved = {k: self._value(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.local.params:
            return self.local.params[name]
        if name in self.local.refs:
            return self.local.refs[name]
        resource = self.resources.get(name)
        if resource is None:
            raise RenderError(f"Ref {name}: no such parameter or resource")
        kind = resource["Type"]
        props = resource.get("Properties", {})
        for prop in ("LogGroupName", "QueueName", "TableName", "BucketName", "RoleName", "TopicName", "FunctionName"):
            if prop in props:
                named = self._value(props[prop])
                return self._queue_url(named) if kind == "AWS::SQS::Queue" else named
        if kind == "AWS::IAM::Role":
            return role_name(self.local.stack, name)
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:{PARTITION}:iam::{ACCOUNT}:policy/{self.local.stack}-{name}"
        raise RenderError(
            f"Ref {name} ({kind}): no local resource; name it in a function's environment "
            "(the local runner then says which one it is) or give it a name property"
        )

    @staticmethod
    def _queue_url(name: str) -> str:
        return f"http://sqs.{REGION}.localhost/{ACCOUNT}/{name}"

    def _getatt(self, arg: Any) -> Any:
        logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
        resource = self.resources.get(logical_id)
        if resource is None:
            raise RenderError(f"GetAtt {logical_id}.{attribute}: no such resource")
        kind = resource["Type"]
        ref = self._ref(logical_id)
        arn_of: dict[tuple[str, str], Callable[[], str]] = {
            ("AWS::DynamoDB::Table", "Arn"): lambda: f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{ref}",
            ("AWS::SQS::Queue", "Arn"): lambda: f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{ref.rsplit('/', 1)[-1]}",
            ("AWS::SQS::Queue", "QueueName"): lambda: ref.rsplit("/", 1)[-1],
            ("AWS::SQS::Queue", "QueueUrl"): lambda: ref,
            ("AWS::S3::Bucket", "Arn"): lambda: f"arn:{PARTITION}:s3:::{ref}",
            ("AWS::Logs::LogGroup", "Arn"): lambda: f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{ref}:*",
            ("AWS::IAM::Role", "Arn"): lambda: f"arn:{PARTITION}:iam::{ACCOUNT}:role/{ref}",
            ("AWS::Lambda::Function", "Arn"): lambda: f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{ref}",
            ("AWS::SNS::Topic", "TopicArn"): lambda: ref,
        }
        build = arn_of.get((kind, attribute))
        if build is not None:
            return build()
        if self.local.lookup is not None:
            return self.local.lookup(kind, ref, attribute)
        raise RenderError(f"GetAtt {logical_id}.{attribute} ({kind}) is not resolved for the local stack")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local_vars = {k: self._value(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local_vars:
                return str(local_vars[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._getatt(name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _join(self, arg: list[Any]) -> str:
        return str(arg[0]).join(str(v) for v in self._value(arg[1]))

    def _select(self, arg: list[Any]) -> Any:
        return self._value(arg[1])[int(self._value(arg[0]))]

    def _split(self, arg: list[Any]) -> list[str]:
        return str(self._value(arg[1])).split(arg[0])

    def _if(self, arg: list[Any]) -> Any:
        return self._value(arg[1] if self._condition(arg[0]) else arg[2])

    def _condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise RenderError(f"condition {name} is not defined")
        return bool(self._truth(self.conditions[name]))

    def _truth(self, expr: Any) -> bool:
        (key, arg), = expr.items()
        if key == "Fn::Equals":
            return str(self._value(arg[0])) == str(self._value(arg[1]))
        if key == "Fn::Not":
            return not self._truth(arg[0])
        if key == "Fn::And":
            return all(self._truth(a) for a in arg)
        if key == "Fn::Or":
            return any(self._truth(a) for a in arg)
        if key == "Condition":
            return self._condition(arg)
        raise RenderError(f"condition {expr!r} is not resolved for the local stack")


def role_name(stack: str, logical_id: str) -> str:
    return f"{stack}-{logical_id}"


# ---------------------------------------------------------------- checks on the rendered policies


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_grants(identity: Identity, resolver: Resolver) -> list[str]:
    """Allowed actions on `Resource: "*"` that support resource-level permissions: not least privilege."""
    problems = []
    for name, document, source in identity.policies:
        for statement in statements(resolver.resolve(document)):
            if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource", [])):
                continue
            for action in as_list(statement.get("Action", [])):
                if action not in RESOURCELESS_ACTIONS:
                    problems.append(f"{identity.logical_id}: {action} on \"*\" ({name}, {source})")
    return problems


# ---------------------------------------------------------------- mutations (mutate.py, run.py --remove)


def _editable_documents(cfn: dict[str, Any], identity: str) -> list[tuple[str, dict[str, Any]]]:
    """The template's own policy documents of an identity (not AWS managed ones), by policy name."""
    resources = cfn["Resources"]
    resource = resources.get(identity)
    if resource is None:
        raise RenderError(f"no identity {identity} in the template")
    if resource["Type"] == "AWS::IAM::ManagedPolicy":
        return [(identity, resource["Properties"]["PolicyDocument"])]
    documents = [(p["PolicyName"], p["PolicyDocument"]) for p in resource["Properties"].get("Policies", []) or []]
    for arn in resource["Properties"].get("ManagedPolicyArns", []) or []:
        target = _ref_target(arn)
        if target is not None and resources.get(target, {}).get("Type") == "AWS::IAM::ManagedPolicy":
            documents.append((target, resources[target]["Properties"]["PolicyDocument"]))
    for logical_id, policy in resources.items():
        if policy.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and _attached_to(policy, "Roles", identity):
            documents.append((logical_id, policy["Properties"]["PolicyDocument"]))
    return documents


def _labelled_statements(cfn: dict[str, Any], identity: str) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(label, statement, the list holding it): the label is the Sid, or `<policy>#<n>` without one."""
    found = []
    for policy_name, document in _editable_documents(cfn, identity):
        held = statements(document)
        document["Statement"] = held
        for n, statement in enumerate(held, start=1):
            found.append((statement.get("Sid") or f"{policy_name}#{n}", statement, held))
    return found


def template_actions(cfn: dict[str, Any], identities: list[Identity]) -> list[str]:
    """Every action the template itself allows, as IDENTITY/STATEMENT/ACTION."""
    found = []
    for identity in identities:
        for label, statement, _ in _labelled_statements(cfn, identity.logical_id):
            if statement.get("Effect") == "Allow":
                found += [f"{identity.logical_id}/{label}/{action}" for action in as_list(statement.get("Action", []))]
    return found


def remove_action(cfn: dict[str, Any], spec: str) -> None:
    """Takes ACTION out of STATEMENT of IDENTITY (`IDENTITY/STATEMENT/ACTION`), in place."""
    try:
        identity, label, action = spec.split("/", 2)
    except ValueError:
        raise RenderError(f"{spec!r} is not IDENTITY/STATEMENT/ACTION") from None
    for found_label, statement, held in _labelled_statements(cfn, identity):
        actions = as_list(statement.get("Action", []))
        if found_label == label and action in actions:
            remaining = [a for a in actions if a != action]
            if remaining:
                statement["Action"] = remaining
            else:
                held.remove(statement)
            return
    raise RenderError(f"{identity} has no statement {label} allowing {action}")
