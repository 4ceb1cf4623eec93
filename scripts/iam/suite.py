"""The black-box suite of `make iam`: what a client and an operator do, over HTTP and outbox-admin.

Every scenario drives the stack as a user would and asserts what the user sees; the harness
around it fails the run on the first AccessDenied (whatever the scenario saw) and on any route of
openapi.yaml that no scenario requested.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

# A 1x1 PNG: the base64 media of the README's example.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SIGNING_SECRET = "whsec_iam_harness"
# The sandbox's scripted recipients (README, "The sandbox provider").
ALWAYS_TRANSIENT = "15550000001"
ALWAYS_PERMANENT = "15550000002"
LOCAL_API_KEY = "local-dev-key"  # seeded by `outbox-local provision`
TERMINAL = {"sent", "delivered", "read", "failed", "cancelled"}


class SuiteFailure(AssertionError):
    """What the user would have seen go wrong."""


class Stop(Exception):
    """The harness saw something that ends the run (a denial, a crashed process)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    text: str

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError as err:
            raise SuiteFailure(f"not JSON (HTTP {self.status}): {self.text[:300]}") from err


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


class Receiver:
    """The endpoint of an `http` provider phone: checks each POST's signature, fetches its media
    link (the presigned S3 URL, as a real endpoint would) and answers with its own message id."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                timestamp = self.headers.get("X-Outbox-Timestamp", "")
                expected = "sha256=" + hmac.new(
                    SIGNING_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
                ).hexdigest()
                entry: dict[str, Any] = {
                    "payload": json.loads(body or b"{}"),
                    "signed": hmac.compare_digest(expected, self.headers.get("X-Outbox-Signature", "")),
                }
                media = entry["payload"].get("media") or {}
                if media.get("url"):
                    try:
                        with urllib.request.urlopen(media["url"], timeout=10) as fetched:
                            entry["media"] = (fetched.status, fetched.read())
                    except urllib.error.HTTPError as err:
                        entry["media"] = (err.code, err.read())
                with receiver.lock:
                    receiver.received.append(entry)
                    answer = json.dumps({"message_id": f"rcv-{len(receiver.received)}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def for_queue_id(self, queue_id: str) -> dict[str, Any] | None:
        with self.lock:
            return next((e for e in self.received if e["payload"].get("queue_id") == queue_id), None)

    def stop(self) -> None:
        self.server.shutdown()


@dataclass
class Context:
    base: str
    admin: Callable[..., str]  # outbox-admin as the operator; returns stdout, raises on failure
    deployer: Callable[[str], Any]  # a boto3 client with every permission, for looking behind the API
    local_env: dict[str, str]
    check: Callable[[], None]  # raises Stop on a denial or a crashed process
    receiver: Receiver
    max_delay: int  # the runner's largest per-hop SQS delay, seconds
    spec_routes: list[tuple[str, str, re.Pattern[str]]] = field(default_factory=list)
    covered: set[tuple[str, str]] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        key: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: tuple[bytes, str] | None = None,
    ) -> Response:
        """`body` goes as JSON; `raw` is (bytes, content type) for any other body."""
        self.check()
        data, content_type = raw if raw is not None else (None, None)
        if body is not None:
            data, content_type = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        if content_type is not None:
            request.add_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        self._cover(method, path)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                response = Response(answer.status, _lower(answer.headers), answer.read().decode())
        except urllib.error.HTTPError as err:
            response = Response(err.code, _lower(err.headers), err.read().decode())
        self.check()
        return response

    def _cover(self, method: str, path: str) -> None:
        bare = path.split("?", 1)[0]
        for spec_method, template, pattern in self.spec_routes:
            if spec_method == method and pattern.fullmatch(bare):
                self.covered.add((spec_method, template))

    def expect(self, response: Response, status: int, what: str) -> Any:
        if response.status != status:
            raise SuiteFailure(f"{what}: expected HTTP {status}, got {response.status}: {response.text[:500]}")
        return response.json() if response.text.strip().startswith(("{", "[")) else response.text

    def wait(self, what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.3) -> Any:
        """Polls `probe` until it returns something truthy, checking the harness between polls."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self.check()
            last = probe()
            if last:
                return last
            time.sleep(interval)
        raise SuiteFailure(f"{what}: not within {timeout:.0f} s (last seen: {str(last)[:500]})")

    def status(self, key: str, message_id: str) -> dict[str, Any]:
        return self.expect(self.call("GET", f"/v1/message/{message_id}/status", key), 200, "status")

    def until_terminal(self, key: str, message_id: str, timeout: float = 60) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            status = self.status(key, message_id)
            return status if status["status"] in TERMINAL else None

        return self.wait(f"message {message_id} finishing", probe, timeout)

    def send(self, key: str, phone: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        answer = self.call("POST", "/v1/message/send", key, body, {"x-phone": phone, **(headers or {})})
        return self.expect(answer, 200, f"send {body.get('chat_id')}")


def load_spec_routes(path: Path) -> list[tuple[str, str, re.Pattern[str]]]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    routes = []
    for template, operations in spec["paths"].items():
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))
        for method in operations:
            if method in ("get", "post", "put", "delete", "patch"):
                routes.append((method.upper(), template, pattern))
    return routes


def in_seconds(seconds: float) -> str:
    at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise SuiteFailure("outbox-admin printed nothing")
    return lines[-1].strip()


# ---------------------------------------------------------------- scenarios


def health_and_spec(ctx: Context) -> None:
    for path in ("/health", "/v1/health"):
        ctx.expect(ctx.call("GET", path), 200, path)
    spec = ctx.expect(ctx.call("GET", "/v1/openapi.yaml"), 200, "openapi.yaml")
    if "openapi:" not in spec:
        raise SuiteFailure("GET /v1/openapi.yaml is not the spec")


def operator_sets_up_an_org(ctx: Context) -> None:
    """Orgs, keys and phones, as the README's admin section runs them, under the operator policy."""
    org = last_line(ctx.admin("org", "create", "--name", "IAM harness"))
    key = last_line(ctx.admin("key", "create", "--org", org))
    created = ctx.admin("key", "create", "--org", org, "--rate-limit", "3")
    limited, limited_id = last_line(created), re.search(r"created key (\S+)", created)
    if limited_id is None:
        raise SuiteFailure(f"key create did not name the key's id: {created}")
    listing = ctx.admin("key", "list", "--org", org)
    if limited_id.group(1) not in listing:
        raise SuiteFailure(f"key list does not show the new keys: {listing}")
    phones = {"main": "15550300001", "purge": "15550300002", "http": "15550300003", "wa": "15550300004"}
    ctx.admin("phone", "add", "--org", org, "--number", phones["main"], "--phone-id", "phone-main", "--provider", "sandbox")
    ctx.admin("phone", "add", "--org", org, "--number", phones["purge"], "--phone-id", "phone-purge", "--provider", "sandbox")
    http_phone = ["phone", "add", "--org", org, "--number", phones["http"], "--phone-id", "phone-http"]
    http_phone += ["--provider", "http", "--url", ctx.receiver.url, "--signing-secret", SIGNING_SECRET]
    ctx.admin(*http_phone)
    # The identical phone again: its secret exists, so it is replaced (PutSecretValue).
    ctx.admin(*http_phone)
    # Credentials left behind by an add that failed half-way are replaced (PutSecretValue).
    ctx.deployer("secretsmanager").create_secret(Name=f"outbox/{org}/phone-orphan", SecretString="{}")
    orphan = ["phone", "add", "--org", org, "--number", "15550300005", "--phone-id", "phone-orphan"]
    ctx.admin(*orphan, "--provider", "http", "--url", ctx.receiver.url, "--signing-secret", SIGNING_SECRET)
    wa = ["phone", "add", "--org", org, "--number", phones["wa"], "--phone-id", "phone-wa", "--provider", "whatsapp-cloud"]
    wa += ["--phone-number-id", "1234567890", "--access-token", "EAAtoken", "--app-secret", "appsecret"]
    wa += ["--verify-token", "verify"]
    ctx.admin(*wa)
    ctx.admin("phone", "remove", "--org", org, "--phone", "phone-wa")
    listing = ctx.admin("phone", "list", "--org", org)
    if "phone-http" not in listing or "phone-wa" in listing:
        raise SuiteFailure(f"phone list is not what was added and removed: {listing}")
    ctx.state.update(org=org, key=key, limited=limited, limited_id=limited_id.group(1), phones=phones)


def text_through_the_http_provider(ctx: Context) -> None:
    """The delivery reads the phone's signing secret from Secrets Manager and POSTs the message."""
    key = ctx.state["key"]
    accepted = ctx.send(key, "phone-http", {"chat_id": "919537851844", "message": "Hi over http"})
    status = ctx.until_terminal(key, accepted["unique_id"])
    if status["status"] != "sent":
        raise SuiteFailure(f"text via http provider: {status}")
    got = ctx.receiver.for_queue_id(accepted["queue_id"])
    if not got or not got["signed"] or got["payload"].get("text") != "Hi over http":
        raise SuiteFailure(f"the endpoint did not get the signed message: {got}")


def base64_media(ctx: Context) -> None:
    """Media is staged in S3 by the API and reaches the endpoint as a link presigned by the delivery."""
    key = ctx.state["key"]
    media = {"type": "image", "filename": "dot.png", "mimetype": "image/png", "filedata": base64.b64encode(PNG).decode()}
    accepted = ctx.send(key, "phone-http", {"chat_id": "919537851845", "message": "a dot", "media": media})
    status = ctx.until_terminal(key, accepted["queue_id"])
    if status["status"] != "sent":
        raise SuiteFailure(f"media send: {status}")
    got = ctx.receiver.for_queue_id(accepted["queue_id"]) or {}
    if got.get("media") != (200, PNG):
        raise SuiteFailure(f"the endpoint could not fetch the staged media: {str(got.get('media'))[:300]}")


def sent_with_fetched_media(ctx: Context, key: str, message_id: str, queue_id: str, media: bytes, what: str) -> None:
    """The message reaches the http phone's endpoint, which fetches its media through the link the
    delivery presigned for the upload's object (s3:GetObject on uploads/*)."""
    status = ctx.until_terminal(key, message_id)
    if status["status"] != "sent":
        raise SuiteFailure(f"{what}: {status}")
    got = ctx.receiver.for_queue_id(queue_id) or {}
    if got.get("media") != (200, media):
        raise SuiteFailure(f"{what}: the endpoint could not fetch the upload: {str(got.get('media'))[:300]}")


def generic_send_dialect(ctx: Context) -> None:
    """`POST /v1/send` (seed 003): `session` names the phone by number, `to` in the `+digits` form."""
    key, phones = ctx.state["key"], ctx.state["phones"]
    body = {"session": phones["http"], "to": "+919537851861", "text": "Hi over /v1/send"}
    sent = ctx.expect(ctx.call("POST", "/v1/send", key, body), 200, "/v1/send")
    if (sent.get("type"), sent.get("sender")) != ("text", f"+{phones['http']}"):
        raise SuiteFailure(f"/v1/send answer: {sent}")
    status = ctx.until_terminal(key, sent["id"])
    if status["status"] != "sent":
        raise SuiteFailure(f"/v1/send delivery: {status}")
    got = ctx.receiver.for_queue_id(status["queue_id"])
    if not got or got["payload"].get("text") != "Hi over /v1/send":
        raise SuiteFailure(f"the endpoint did not get the /v1/send message: {got}")


def beeper_send_with_a_multipart_upload(ctx: Context) -> None:
    """A multipart asset upload (the API's PutObject on uploads/*), then a Beeper-style chat send
    naming it (HeadObject, i.e. s3:GetObject, when the send checks the object), resolved by its
    pending id in Beeper's shape."""
    key = ctx.state["key"]
    boundary = "outbox-iam-boundary"
    form = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"dot.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode() + PNG + f"\r\n--{boundary}--\r\n".encode()
    answer = ctx.call("POST", "/v1/assets/upload", key, raw=(form, f"multipart/form-data; boundary={boundary}"))
    upload = ctx.expect(answer, 200, "multipart upload")
    if upload.get("fileSize") != len(PNG) or upload.get("mimeType") != "image/png":
        raise SuiteFailure(f"multipart upload answer: {upload}")
    chat = "!whatsapp_919537851862:beeper.local"
    body = {"text": "**Look** at ~~this~~", "attachment": {"uploadID": upload["uploadID"]}}
    sent = ctx.call("POST", f"/v1/chats/{chat}/messages", key, body, {"x-phone": "phone-http"})
    pending = ctx.expect(sent, 200, "Beeper chat send")["pendingMessageID"]
    status = ctx.until_terminal(key, pending)
    sent_with_fetched_media(ctx, key, pending, status["queue_id"], PNG, "Beeper send of a multipart upload")
    got = ctx.receiver.for_queue_id(status["queue_id"]) or {}
    if got.get("payload", {}).get("text") != "*Look* at ~this~":
        raise SuiteFailure(f"the Markdown did not reach the endpoint as WhatsApp formatting: {got.get('payload')}")
    message = ctx.expect(ctx.call("GET", f"/v1/chats/{chat}/messages/{pending}", key), 200, "Beeper message")
    if message.get("status") != "sent" or message.get("id") != pending:
        raise SuiteFailure(f"Beeper message by its pending id: {message}")


def base64_upload_sent_by_id(ctx: Context) -> None:
    """A base64 asset upload, then a Periskope-dialect send naming it by `media.upload_id`."""
    key = ctx.state["key"]
    pdf = b"%PDF-1.7 iam harness"
    body = {"content": base64.b64encode(pdf).decode(), "fileName": "r.pdf", "mimeType": "application/pdf"}
    upload = ctx.expect(ctx.call("POST", "/v1/assets/upload/base64", key, body), 200, "base64 upload")
    media = {"type": "document", "upload_id": upload["uploadID"]}
    accepted = ctx.send(key, "phone-http", {"chat_id": "919537851863", "message": "the report", "media": media})
    sent_with_fetched_media(ctx, key, accepted["queue_id"], accepted["queue_id"], pdf, "send by a base64 upload's id")


def presigned_upload(ctx: Context) -> None:
    """`POST /v1/media/uploads`, the client's PUT straight to S3 with the link (signed by the API's
    role, so s3:PutObject on uploads/*), then a send of it."""
    key = ctx.state["key"]
    video = bytes(i % 251 for i in range(256 * 1024))
    body = {"filename": "talk.mp4", "mimetype": "video/mp4", "size": len(video), "type": "video"}
    presigned = ctx.expect(ctx.call("POST", "/v1/media/uploads", key, body), 200, "presigned upload")
    put = urllib.request.Request(presigned["url"], data=video, method=presigned.get("method", "PUT"))
    for name, value in presigned["headers"].items():
        put.add_header(name, value)
    ctx.check()
    try:
        with urllib.request.urlopen(put, timeout=30) as answer:
            if answer.status // 100 != 2:
                raise SuiteFailure(f"the presigned PUT answered {answer.status}")
    except urllib.error.HTTPError as err:
        ctx.check()  # a denial of the PUT is named as such
        raise SuiteFailure(f"the presigned PUT answered {err.code}: {err.read()[:300]!r}") from err
    media = {"type": "video", "upload_id": presigned["upload_id"]}
    accepted = ctx.send(key, "phone-http", {"chat_id": "919537851864", "message": "the talk", "media": media})
    sent_with_fetched_media(ctx, key, accepted["queue_id"], accepted["queue_id"], video, "send of a presigned upload")


def idempotent_send(ctx: Context) -> None:
    key = ctx.state["key"]
    body = {"chat_id": "919537851846", "message": "once"}
    first = ctx.send(key, "phone-main", body, {"Idempotency-Key": "iam-order-1"})
    again = ctx.call("POST", "/v1/message/send", key, body, {"x-phone": "phone-main", "Idempotency-Key": "iam-order-1"})
    replayed = ctx.expect(again, 200, "idempotent retry")
    if replayed["queue_id"] != first["queue_id"] or again.headers.get("idempotent-replayed") != "true":
        raise SuiteFailure(f"the retry was not a replay: {again.headers} {replayed}")
    # A request that fails does not use its key up.
    bad = ctx.call("POST", "/v1/message/send", key, {"chat_id": "nope", "message": "x"},
                   {"x-phone": "phone-main", "Idempotency-Key": "iam-order-2"})
    ctx.expect(bad, 400, "invalid send with a key")
    ctx.send(key, "phone-main", {"chat_id": "919537851847", "message": "now valid"}, {"Idempotency-Key": "iam-order-2"})
    ctx.state["idempotent"] = first


def unaccepted_send_frees_its_key(ctx: Context) -> None:
    """A send answered 503 (here: the media bucket is gone) releases its Idempotency-Key's claim
    (DeleteItem), so that the client's retry runs afresh instead of waiting for an answer."""
    key = ctx.state["key"]
    s3 = ctx.deployer("s3")
    bucket = ctx.local_env["OUTBOX_MEDIA_BUCKET"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)
    media = {"type": "image", "filename": "dot.png", "mimetype": "image/png", "filedata": base64.b64encode(PNG).decode()}
    body = {"chat_id": "919537851849", "message": "retry me", "media": media}
    headers = {"x-phone": "phone-main", "Idempotency-Key": "iam-order-3"}
    try:
        ctx.expect(ctx.call("POST", "/v1/message/send", key, body, headers), 503, "a send while S3 is unavailable")
    finally:
        s3.create_bucket(Bucket=bucket)
    retried = ctx.call("POST", "/v1/message/send", key, body, headers)
    ctx.expect(retried, 200, "the retry once S3 is back")
    if "idempotent-replayed" in retried.headers:
        raise SuiteFailure("the retry after a 503 was answered from the failed request's claim")


def tracking_routes(ctx: Context) -> None:
    key = ctx.state["key"]
    message = ctx.state["idempotent"]
    ctx.until_terminal(key, message["queue_id"])
    by_unique = ctx.status(key, message["unique_id"])
    if by_unique["queue_id"] != message["queue_id"]:
        raise SuiteFailure(f"status by unique_id names another message: {by_unique}")
    obj = ctx.expect(ctx.call("GET", f"/v1/message/{message['queue_id']}", key), 200, "message object")
    if message["unique_id"] not in json.dumps(obj):
        raise SuiteFailure(f"message object: {obj}")
    jobs = ctx.expect(ctx.call("GET", f"/v1/queue/jobs?queue_id={message['queue_id']}", key), 200, "jobs by queue_id")
    if message["queue_id"] not in json.dumps(jobs):
        raise SuiteFailure(f"jobs by queue_id: {jobs}")
    def counted() -> bool:
        health = ctx.expect(ctx.call("GET", "/v1/queue", key, headers={"x-phone": "phone-main"}), 200, "queue health")
        return health.get("completed", 0) >= 1

    # The counts come from counters the status-stream function keeps, seconds behind.
    ctx.wait("the status stream counting the sent message", counted, 60)
    # Another org's key sees none of it.
    ctx.expect(ctx.call("GET", f"/v1/message/{message['queue_id']}/status", LOCAL_API_KEY), 404, "other org's status")


def broadcast(ctx: Context) -> None:
    """A broadcast's records go in with conditional PutItems, its jobs with SendMessageBatch, and its
    state and jobs are read back with BatchGetItem."""
    key = ctx.state["key"]
    chats = ["919537851811", "919537851812", "919537851813"]
    body = {
        "chat_ids": chats,
        "message": "Hi {{name}}",
        "delay": 1,
        "variables": [{"chat_id": c, "values": {"name": n}} for c, n in zip(chats, ["Ana", "Bo", "Cy"])],
    }
    accepted = ctx.expect(ctx.call("POST", "/v1/message/broadcast", key, body, {"x-phone": "phone-main"}), 200, "broadcast")
    broadcast_id = accepted["broadcast_id"]

    def done() -> dict[str, Any] | None:
        state = ctx.expect(ctx.call("GET", f"/v1/queue/broadcast?broadcast_id={broadcast_id}", key), 200, "broadcast state")
        return state if state.get("sent_chats") == len(chats) else None

    ctx.wait("broadcast sent to every chat", done, 60)
    jobs = ctx.expect(ctx.call("GET", f"/v1/queue/jobs?broadcast_id={broadcast_id}", key), 200, "jobs by broadcast")
    if json.dumps(jobs).count("completed") < len(chats):
        raise SuiteFailure(f"broadcast jobs are not all completed: {jobs}")


def scheduled_past_the_longest_delay(ctx: Context) -> None:
    """Due later than one SQS delay: the delivery puts the job back (SendMessage on the jobs queue)
    until it is due, then sends it."""
    key = ctx.state["key"]
    wait = 3 * ctx.max_delay + 2
    accepted = ctx.send(key, "phone-main", {"chat_id": "919537851848", "message": "later", "scheduled_at": in_seconds(wait)})
    early = ctx.status(key, accepted["queue_id"])
    if early["status"] != "queued":
        raise SuiteFailure(f"a scheduled message is not queued before it is due: {early}")
    status = ctx.until_terminal(key, accepted["queue_id"], timeout=wait + 60)
    if status["status"] != "sent" or status.get("attempts") != 1:
        raise SuiteFailure(f"scheduled send: {status}")


def transient_failure_to_the_dlq_and_replay(ctx: Context) -> None:
    """Three transient failures, the DLQ, the dead-letter function, then `dlq replay` by the operator."""
    key = ctx.state["key"]
    accepted = ctx.send(key, "phone-main", {"chat_id": ALWAYS_TRANSIENT, "message": "never"})
    status = ctx.until_terminal(key, accepted["queue_id"], timeout=90)
    if status["status"] != "failed" or status.get("attempts") != 3:
        raise SuiteFailure(f"transient failures: {status}")

    def dead_lettered() -> bool:
        health = ctx.expect(ctx.call("GET", "/v1/queue", key, headers={"x-phone": "phone-main"}), 200, "queue health")
        return health.get("dead_letter", 0) >= 1

    ctx.wait("the dead-letter function recording the job", dead_lettered, 60)
    report = ctx.admin("dlq", "replay", "--queue-id", accepted["queue_id"])
    if accepted["queue_id"] not in report:
        raise SuiteFailure(f"dlq replay did not name the message: {report}")

    def failed_again() -> dict[str, Any] | None:
        status = ctx.status(key, accepted["queue_id"])
        return status if status["status"] == "failed" and status.get("attempts", 0) > 3 else None

    ctx.wait("the replayed message being attempted again", failed_again, 90)
    ctx.wait("the replayed job dead-lettered again", dead_lettered, 60)
    ctx.admin("dlq", "replay", "--all")


def permanent_failure(ctx: Context) -> None:
    key = ctx.state["key"]
    accepted = ctx.send(key, "phone-main", {"chat_id": ALWAYS_PERMANENT, "message": "refused"})
    status = ctx.until_terminal(key, accepted["queue_id"])
    if status["status"] != "failed" or status.get("attempts") != 1:
        raise SuiteFailure(f"permanent failure: {status}")


def poison_job(ctx: Context) -> None:
    """A job that is no job: the delivery moves it to the DLQ, the dead-letter function keeps it."""
    marker = f"iam-poison-{time.time_ns()}"
    ctx.deployer("sqs").send_message(QueueUrl=ctx.local_env["OUTBOX_QUEUE_URL"], MessageBody=marker)
    table = ctx.local_env["OUTBOX_TABLE"]

    def kept() -> bool:
        found = ctx.deployer("dynamodb").scan(
            TableName=table,
            FilterExpression="begins_with(pk, :p) AND contains(#b, :m)",
            ExpressionAttributeNames={"#b": "body"},
            ExpressionAttributeValues={":p": {"S": "POISON#"}, ":m": {"S": marker}},
        )
        return bool(found.get("Items"))

    ctx.wait("the poison job kept as a POISON item", kept, 60)


def purge(ctx: Context) -> None:
    """By queue_id, by broadcast_id, and everything of a phone."""
    key = ctx.state["key"]
    later = in_seconds(3600)
    one = ctx.send(key, "phone-purge", {"chat_id": "919537851851", "message": "cancel me", "scheduled_at": later})
    ctx.expect(ctx.call("DELETE", "/v1/queue/purge", key, {"queue_id": one["queue_id"]}), 204, "purge by queue_id")
    body = {"chat_ids": ["919537851852", "919537851853"], "message": "cancel us", "scheduled_at": later}
    cast = ctx.expect(ctx.call("POST", "/v1/message/broadcast", key, body, {"x-phone": "phone-purge"}), 200, "broadcast")
    ctx.expect(ctx.call("DELETE", "/v1/queue/purge", key, {"broadcast_id": cast["broadcast_id"]}), 204, "purge broadcast")
    rest = ctx.send(key, "phone-purge", {"chat_id": "919537851854", "message": "cancel all", "scheduled_at": later})
    ctx.expect(ctx.call("DELETE", "/v1/queue/purge", key, headers={"x-phone": "phone-purge"}), 204, "purge the phone")
    for queue_id in (one["queue_id"], rest["queue_id"]):
        if ctx.status(key, queue_id)["status"] != "cancelled":
            raise SuiteFailure(f"purged message {queue_id} is not cancelled")
    state = ctx.expect(ctx.call("GET", f"/v1/queue/broadcast?broadcast_id={cast['broadcast_id']}", key), 200, "broadcast")
    if state.get("broadcast_status") != "cancelled":
        raise SuiteFailure(f"purged broadcast: {state}")


def provider_receipts(ctx: Context) -> None:
    """Providers' receipts, which carry no API key: the API reads the phones' secrets (GetSecretValue)
    to check a gateway's signature, Meta's handshake token and Meta's signature, and finds a
    message by its provider id on the sparse gsi6 (Query)."""
    key, org = ctx.state["key"], ctx.state["org"]
    accepted = ctx.send(key, "phone-http", {"chat_id": "919537851844", "message": "receipt me"})
    status = ctx.until_terminal(key, accepted["unique_id"])
    receipt = {"message_id": status["message_id"], "status": "read"}
    body = json.dumps({"receipts": [receipt]}).encode()
    stamp = str(int(time.time()))
    signature = "sha256=" + hmac.new(SIGNING_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Outbox-Org-Id": org, "X-Outbox-Phone-Id": "phone-http", "X-Outbox-Timestamp": stamp}
    unsigned = ctx.call("POST", "/v1/provider/http/receipts", raw=(body, "application/json"), headers=headers)
    ctx.expect(unsigned, 401, "unsigned gateway receipts")
    signed = ctx.call(
        "POST", "/v1/provider/http/receipts", raw=(body, "application/json"), headers={**headers, "X-Outbox-Signature": signature}
    )
    if ctx.expect(signed, 200, "gateway receipts")["applied"] != 1:
        raise SuiteFailure(f"the gateway's receipt was not applied: {signed.text}")
    if ctx.status(key, accepted["unique_id"])["status"] != "read":
        raise SuiteFailure("the gateway's read receipt did not reach the record")

    wa = ["phone", "add", "--org", org, "--number", "15550300006", "--phone-id", "phone-wa-receipts"]
    wa += ["--provider", "whatsapp-cloud", "--phone-number-id", "1234567891", "--access-token", "EAAtoken"]
    ctx.admin(*wa, "--app-secret", "receipts-app-secret", "--verify-token", "verify-receipts")
    hub = "/v1/provider/whatsapp/webhook?hub.mode=subscribe&hub.challenge=4242&hub.verify_token="
    if ctx.expect(ctx.call("GET", hub + "verify-receipts"), 200, "Meta's handshake") != "4242":
        raise SuiteFailure("the handshake did not answer the challenge")
    ctx.expect(ctx.call("GET", hub + "not-the-token"), 403, "Meta's handshake with a wrong token")
    value = {"metadata": {"phone_number_id": "1234567891"}, "statuses": [{"id": "wamid.UNKNOWN", "status": "delivered"}]}
    meta = json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}).encode()
    meta_signature = "sha256=" + hmac.new(b"receipts-app-secret", meta, hashlib.sha256).hexdigest()
    webhook = "/v1/provider/whatsapp/webhook"
    wrong = ctx.call("POST", webhook, raw=(meta, "application/json"), headers={"X-Hub-Signature-256": "sha256=00"})
    ctx.expect(wrong, 401, "Meta's statuses with a wrong signature")
    answer = ctx.call("POST", webhook, raw=(meta, "application/json"), headers={"X-Hub-Signature-256": meta_signature})
    if ctx.expect(answer, 200, "Meta's statuses")["unknown"] != 1:
        raise SuiteFailure(f"Meta's status for an unknown message was not looked up: {answer.text}")


def webhooks(ctx: Context) -> None:
    """A webhook's life through the API: create (CreateSecret, then the record), rotate
    (GetSecretValue, CreateSecret finding it exists, PutSecretValue), patch, list, delete
    (DeleteSecret). The secrets are looked at behind the API: both live for a day after a
    rotation, none after the delete."""
    key = ctx.state["key"]
    body = {"url": ctx.receiver.url, "events": ["message.sent", "message.failed"], "description": "IAM harness"}
    created = ctx.expect(ctx.call("POST", "/v1/webhooks", key, body), 201, "create a webhook")
    webhook_id, first = created["id"], created["secret"]
    path = f"/v1/webhooks/{webhook_id}"
    secrets = ctx.deployer("secretsmanager")
    name = f"outbox-webhooks/{ctx.state['org']}/{webhook_id}"
    stored = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
    if stored.get("current") != first:
        raise SuiteFailure(f"the created webhook's secret is not in Secrets Manager as {name}")
    ctx.expect(ctx.call("GET", path, LOCAL_API_KEY), 404, "another org's webhook")

    rotated = ctx.expect(ctx.call("POST", f"{path}/rotate-secret", key), 200, "rotate the secret")
    if rotated["secret"] == first or not rotated.get("previous_secret_expires_at"):
        raise SuiteFailure(f"the rotation did not give a new secret beside the old one: {rotated.keys()}")
    stored = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
    if (stored.get("current"), stored.get("previous")) != (rotated["secret"], first):
        raise SuiteFailure("after the rotation Secrets Manager does not hold the new and the previous secret")

    patched = ctx.expect(ctx.call("PATCH", path, key, {"events": ["message.read"], "description": None}), 200, "patch")
    if patched["events"] != ["message.read"] or patched["description"] is not None:
        raise SuiteFailure(f"the patch was not applied: {patched}")
    listed = ctx.expect(ctx.call("GET", "/v1/webhooks", key), 200, "list webhooks")
    if [w["id"] for w in listed["webhooks"]] != [webhook_id] or "secret" in json.dumps(listed):
        raise SuiteFailure(f"the list is not the one webhook without its secret: {listed}")

    ctx.expect(ctx.call("DELETE", path, key), 204, "delete the webhook")
    ctx.expect(ctx.call("GET", path, key), 404, "the deleted webhook")
    try:
        secrets.describe_secret(SecretId=name)
    except secrets.exceptions.ResourceNotFoundException:
        return
    raise SuiteFailure(f"the deleted webhook's secret {name} is still in Secrets Manager")


def readme_verifiers() -> tuple[Callable[[str, str, bytes], bool], str]:
    """The README's webhook verification code, as users copy it: the Python function (exec'd here)
    and the Node one (source, run with `node` on a call)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Verifying a call.**", 1)[1]
    python = re.search(r"```python\n(.*?)```", section, re.S)
    node = re.search(r"```js\n(.*?)```", section, re.S)
    if python is None or node is None:
        raise SuiteFailure("the README's 'Verifying a call' has no python and js blocks")
    scope: dict[str, Any] = {}
    exec(python.group(1), scope)  # noqa: S102 (the README's own code, which is what is under test)
    return scope["verify"], node.group(1)


class EventsReceiver:
    """A webhook receiver as the README describes it: verifies each call with the README's Python
    function, refuses the first call (so a retry's backoff runs), then dedupes on the event id."""

    def __init__(self, verify: Callable[[str, str, bytes], bool]) -> None:
        self.secret = ""
        self.calls: list[tuple[str, bytes, bool]] = []
        self.events: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                header = self.headers.get("Outbox-Signature", "")
                with receiver.lock:
                    verified = verify(receiver.secret, header, body)
                    receiver.calls.append((header, body, verified))
                    first = len(receiver.calls) == 1
                    if verified and not first:
                        event = json.loads(body)
                        receiver.events.setdefault(event["id"], event)
                self.send_response(500 if first or not verified else 204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def types_for(self, queue_id: str) -> set[str]:
        with self.lock:
            return {e["type"] for e in self.events.values() if e["data"]["queue_id"] == queue_id}


def webhook_events(ctx: Context) -> None:
    """Status events under the roles: the status stream lists the org's webhooks and phones (Query)
    and queues the events (SendMessage); the webhook function reads the webhook (GetItem) and its
    secret (GetSecretValue), backs off a refused call (ChangeMessageVisibility) and posts them. The
    receiver verifies every call with the README's Python code, and one call with its Node code."""
    key = ctx.state["key"]
    verify, node_verify = readme_verifiers()
    receiver = EventsReceiver(verify)
    body = {"url": receiver.url, "events": ["message.sent", "message.delivered", "message.read", "message.failed"]}
    created = ctx.expect(ctx.call("POST", "/v1/webhooks", key, body), 201, "subscribe a webhook")
    receiver.secret = created["secret"]
    # make iam runs the functions with the template's resource variables only, so without the sandbox's
    # receipts: a sent and a failed message make the two kinds of change the roles must carry.
    sent = ctx.send(key, "phone-main", {"chat_id": "919537851846", "message": "tell my webhook"})
    failed = ctx.send(key, "phone-main", {"chat_id": "15550000002", "message": "a permanent error"})
    ctx.wait("the webhook's message.sent", lambda: receiver.types_for(sent["queue_id"]) == {"message.sent"}, 90)
    ctx.wait("the webhook's message.failed", lambda: receiver.types_for(failed["queue_id"]) == {"message.failed"}, 90)
    with receiver.lock:
        calls = list(receiver.calls)
    if not all(verified for _, _, verified in calls):
        raise SuiteFailure("a webhook call did not verify with the README's Python code")
    header, raw, _ = calls[-1]
    if shutil.which("node") is None:
        print("iam: node is not installed; the README's Node verification was not run")
    else:
        script = node_verify + "\nconst [secret, header, body] = process.argv.slice(1);\n" + \
            "process.exit(verify(secret, header, Buffer.from(body, 'base64')) ? 0 : 1);\n"
        for payload, expected in ((raw, 0), (raw + b" ", 1)):
            run = subprocess.run(["node", "-e", script, receiver.secret, header, base64.b64encode(payload).decode()],
                                 capture_output=True, text=True, timeout=30)
            if run.returncode != expected:
                raise SuiteFailure(f"the README's Node verification answered {run.returncode}, not {expected}: {run.stderr[:300]}")
    ctx.expect(ctx.call("DELETE", f"/v1/webhooks/{created['id']}", key), 204, "delete the webhook")
    receiver.server.shutdown()



def rate_limit_and_revocation(ctx: Context) -> None:
    limited = ctx.state["limited"]
    probe = "/v1/message/3EB0000000000000000000/status"
    answers = [ctx.call("GET", probe, limited).status for _ in range(4)]
    if answers[-1] != 429:
        raise SuiteFailure(f"a key limited to 3 requests a minute answered {answers}")
    ctx.admin("key", "revoke", "--org", ctx.state["org"], "--key-id", ctx.state["limited_id"])
    if ctx.state["limited_id"] not in ctx.admin("key", "list", "--org", ctx.state["org"]):
        raise SuiteFailure("key list does not show the revoked key")
    ctx.wait("the revoked key refused", lambda: ctx.call("GET", probe, limited).status == 401, 30, interval=1)


SCENARIOS: list[Callable[[Context], None]] = [
    health_and_spec,
    operator_sets_up_an_org,
    text_through_the_http_provider,
    base64_media,
    generic_send_dialect,
    beeper_send_with_a_multipart_upload,
    base64_upload_sent_by_id,
    presigned_upload,
    idempotent_send,
    unaccepted_send_frees_its_key,
    tracking_routes,
    broadcast,
    scheduled_past_the_longest_delay,
    transient_failure_to_the_dlq_and_replay,
    permanent_failure,
    poison_job,
    purge,
    provider_receipts,
    webhooks,
    webhook_events,
    rate_limit_and_revocation,
]


def uncovered(ctx: Context) -> list[str]:
    return [f"{m} {t}" for m, t, _ in ctx.spec_routes if (m, t) not in ctx.covered]
