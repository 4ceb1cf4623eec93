#!/usr/bin/env python3
"""A webhook receiver for trying Outbox's events locally: verifies each call's Outbox-Signature with
the webhook's secret (the README's ten lines), dedupes on the event id, prints each event once.

    python3 scripts/webhook-receiver.py --secret whsec_... [--port 9000]

Standard library only. Answers 204 to a verified call, 401 to one that does not verify.
"""

import argparse
import hashlib
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    t = next((v for k, v in parts if k == "t"), None)
    if t is None or not t.isdigit() or abs(time.time() - int(t)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in parts if k == "v1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secret", required=True, help="the webhook's secret, as POST /v1/webhooks answered it")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            if not verify(args.secret, self.headers.get("Outbox-Signature", ""), body):
                print("refused: the signature does not verify", flush=True)
                self.send_response(401)
                self.end_headers()
                return
            event = json.loads(body)
            if event["id"] not in seen:
                seen.add(event["id"])
                data = event["data"]
                print(f"{event['type']:<18} {data['queue_id']} {data['status']} (verified, id {event['id']})", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    print(f"webhook receiver on http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
