"""How moto authorises requests when `make iam` runs it with IAM enforced, made closer to AWS.

moto 5 (moto/iam/access_control.py) checks the signature and the caller's identity policies of IAM
users and assumed roles, but:
- DynamoDB, DynamoDB Streams and Secrets Manager pass no resource, so any statement scoped to an ARN
  never matches them (only `Resource: "*"` would). Here each request names its resources as AWS's
  Service Authorization Reference says: the table, `table/<t>/index/<i>` for a Query or Scan of an
  index, every table of a batch, the underlying item action for each part of a transaction, the
  stream of a stream read, the secret by its ARN.
- SQS batch calls are checked as `sqs:SendMessageBatch` etc., which are no IAM actions: AWS
  authorises them as `sqs:SendMessage`, `sqs:DeleteMessage`, `sqs:ChangeMessageVisibility`.
- A presigned S3 link (query-string SigV4) fails with a server error, as moto reads the identity
  from the Authorization header only. Here the link's identity and expiry are taken from its query
  and its permission checked like any request; its signature is not verified.
- The AccessDenied message names no resource; here it reads like AWS's, and every decision is
  recorded: denials at once (one JSON line each, so a harness can stop at the first), allowed
  (identity, action, resource) triples when the server stops.
Conditions, resource-based policies (queue and bucket policies), permission boundaries and SCPs
are not evaluated, by moto or here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam import access_control
from moto.iam.access_control import IAMRequest, IAMRequestBase, S3IAMRequest
from moto.s3.exceptions import S3AccessDeniedError
from moto.utilities.utils import get_partition

# Batch operations that AWS authorises as the single-message action (SQS developer guide).
ACTION_ALIASES = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

# TransactWriteItems/TransactGetItems parts and the item action each is authorised as.
TRANSACT_PARTS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


class _Recorder:
    """Where decisions go: denials appended as they happen, allowed triples written at stop."""

    def __init__(self, denials_path: str, allowed_path: str) -> None:
        self.denials_path = denials_path
        self.allowed_path = allowed_path
        self.lock = threading.Lock()
        self.allowed: set[tuple[str, str, str]] = set()

    def denied(self, identity: str, action: str, resource: str) -> None:
        line = json.dumps({"identity": identity, "action": action, "resource": resource, "at": time.time()})
        with self.lock, open(self.denials_path, "a", encoding="utf-8") as out:
            out.write(line + "\n")

    def permitted(self, identity: str, action: str, resource: str) -> None:
        with self.lock:
            self.allowed.add((identity, action, resource))

    def flush(self) -> None:
        with self.lock:
            rows = [{"identity": i, "action": a, "resource": r} for i, a, r in sorted(self.allowed)]
        with open(self.allowed_path, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=1)


def _denial_message(user_arn: str, action: str, resource: str) -> str:
    """AWS's wording: who, what, and on which resource."""
    return (
        f"User: {user_arn} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )


class _XmlAccessDenied(_RESTError):
    code = 403


class _JsonAccessDenied(JsonRESTError):
    """JSON-protocol clients (DynamoDB, Secrets Manager, SQS's JSON) read the code from this body."""

    code = 403


def _params(handler: Any) -> dict[str, Any]:
    """The JSON body of a JSON-protocol request (DynamoDB, Streams, Secrets Manager)."""
    body = handler.raw_body if getattr(handler, "raw_body", None) else handler.body
    try:
        parsed = json.loads(body or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _table_arn(handler: Any, table: str) -> str:
    if table.startswith("arn:"):
        return table
    return f"arn:{get_partition(handler.region)}:dynamodb:{handler.region}:{handler.current_account}:table/{table}"


def _dynamodb_checks(handler: Any, action: str) -> list[tuple[str, str]]:
    params = _params(handler)
    if action in ("BatchWriteItem", "BatchGetItem"):
        return [(action, _table_arn(handler, t)) for t in sorted(params.get("RequestItems", {}))]
    if action in ("TransactWriteItems", "TransactGetItems"):
        checks = []
        for item in params.get("TransactItems", []):
            for part, item_action in TRANSACT_PARTS.items():
                if part in item:
                    checks.append((item_action, _table_arn(handler, item[part].get("TableName", ""))))
        return checks
    table = params.get("TableName") or params.get("TableArn") or params.get("ResourceArn")
    if not table:
        return [(action, "*")]
    arn = _table_arn(handler, table)
    if action in ("Query", "Scan") and params.get("IndexName"):
        arn = f"{arn}/index/{params['IndexName']}"
    return [(action, arn)]


def _streams_checks(handler: Any, action: str) -> list[tuple[str, str]]:
    params = _params(handler)
    if "StreamArn" in params:
        return [(action, params["StreamArn"])]
    if "ShardIterator" in params:
        # moto's iterators are "<stream arn>|1|<id>".
        return [(action, str(params["ShardIterator"]).split("|")[0])]
    return [(action, "*")]


def _secretsmanager_checks(handler: Any, action: str) -> list[tuple[str, str]]:
    from moto.secretsmanager.models import secretsmanager_backends

    params = _params(handler)
    prefix = f"arn:{get_partition(handler.region)}:secretsmanager:{handler.region}:{handler.current_account}:secret:"
    if action == "CreateSecret":
        # The ARN gets a random suffix only once created; policies match it with a trailing *.
        return [(action, prefix + str(params.get("Name", "")))]
    secret_id = params.get("SecretId")
    if not secret_id:
        return [(action, "*")]
    secret = secretsmanager_backends[handler.current_account][handler.region].secrets.get(secret_id)
    if secret is not None:
        return [(action, secret.arn)]
    return [(action, secret_id if secret_id.startswith("arn:") else prefix + secret_id)]


# Services whose requests name their resources here; others keep moto's own (SQS: the queue's
# ARN; S3: bucket and key; STS: the role).
_PLANNERS: dict[str, Callable[[Any, str], list[tuple[str, str]]]] = {
    "dynamodb": _dynamodb_checks,
    "dynamodbstreams": _streams_checks,
    "secretsmanager": _secretsmanager_checks,
}


def _presigned(handler: Any) -> dict[str, str] | None:
    """The SigV4 query parameters of a presigned S3 link, or None for a request signed in its headers."""
    if "Authorization" in handler.headers:
        return None
    query = {k: v[0] for k, v in parse_qs(urlparse(handler.uri).query).items()}
    return query if "X-Amz-Credential" in query else None


def _iam_request(handler: Any, cls: type, path: str, headers: Any, action: str) -> Any:
    """moto's check of one request for `action`, as its own `_authenticate_and_authorize_action` builds it."""
    return cls(
        account_id=handler.current_account,
        method=handler.method,
        path=path,
        data=handler.data,
        body=handler.raw_body,
        headers=headers,
        action=action,
    )


def _authorize_presigned(handler: Any, query: dict[str, str], path: str, resource: str) -> None:
    signed_at = datetime.strptime(query.get("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    if (datetime.now(timezone.utc) - signed_at).total_seconds() > int(query.get("X-Amz-Expires", "0")):
        raise S3AccessDeniedError()  # AWS: 403 "Request has expired"
    headers = dict(handler.headers)
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={query['X-Amz-Credential']}, "
        f"SignedHeaders={query.get('X-Amz-SignedHeaders', 'host')}, Signature={query.get('X-Amz-Signature', '')}"
    )
    if "X-Amz-Security-Token" in query:
        headers["X-Amz-Security-Token"] = query["X-Amz-Security-Token"]
    _iam_request(handler, S3IAMRequest, path, headers, handler._get_action()).check_action_permitted(resource)


def install(denials_path: str, allowed_path: str) -> Callable[[], None]:
    """Patches moto's authorisation (see the module text); returns what writes the allowed log."""
    recorder = _Recorder(denials_path, allowed_path)
    original_init = IAMRequestBase.__init__
    original_check = IAMRequestBase.check_action_permitted
    original_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def init(self: IAMRequestBase, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._action = ACTION_ALIASES.get(self._action, self._action)

    def check(self: IAMRequestBase, resource: str) -> None:
        self._outbox_resource = resource
        identity = self._access_key.arn
        try:
            original_check(self, resource)
        except Exception:
            recorder.denied(identity, self._action, resource)
            raise
        recorder.permitted(identity, self._action, resource)

    def raise_access_denied(self: IAMRequest) -> None:
        message = _denial_message(self._access_key.arn, self._action, getattr(self, "_outbox_resource", "*"))
        if "json" in str(self._headers.get("Content-Type", "")):
            raise _JsonAccessDenied("AccessDeniedException", message)
        raise _XmlAccessDenied("AccessDenied", message)

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        planner = _PLANNERS.get(getattr(self, "service_name", "") or "")
        enforced = ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
        presigned = _presigned(self) if iam_request_cls is S3IAMRequest and enforced else None
        if (planner is None and presigned is None) or not enforced:
            original_authorize(self, iam_request_cls, resource)
            return
        path = urlparse(self.uri).path
        if urlparse(self.uri).query:
            path += "?" + urlparse(self.uri).query
        if presigned is not None:
            _authorize_presigned(self, presigned, path, resource)
            return
        # The same steps as moto's, once per (action, resource) the request needs.
        checks = planner(self, self._get_action()) or [(self._get_action(), resource)]
        for action, arn in checks:
            request = _iam_request(self, iam_request_cls, path, self.headers, action)
            request.check_signature()
            request.check_action_permitted(arn)

    IAMRequestBase.__init__ = init
    IAMRequestBase.check_action_permitted = check
    IAMRequest._raise_access_denied = raise_access_denied
    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize
    access_control.log.disabled = True
    return recorder.flush
