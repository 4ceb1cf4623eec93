"""Runs a moto server on loopback for the local stack and the tests.

    python scripts/moto_server.py [--port N] [--iam DIR]

Prints the port on the first line of stdout once the server accepts connections. With --port 0
(the default) the OS picks a free port. It stops on SIGTERM/SIGINT, or when stdin closes if
--until-stdin-closes is given (so a test process that dies takes its emulator with it).

DynamoDB makes each conditional write atomic; moto's threaded server does not, so two concurrent
conditional updates of one item can both pass. Writes are serialised here to keep that guarantee,
which the idempotency keys and the delivery's `queued -> sending` transition rely on.

With --iam DIR, authorisation is made closer to AWS (scripts/iam/moto_iam.py) and every decision
is logged under DIR: denials.jsonl as they happen, allowed.json on stop. IAM is enforced once
something POSTs a count to /moto-api/reset-auth (INITIAL_NO_AUTH_ACTION_COUNT), as `make iam` does
after it has created the identities and resources.
"""
import argparse
import logging
import os
import signal
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import ThreadedMotoServer

_write_lock = threading.RLock()


def _serialised(method):
    def locked(self, *args, **kwargs):
        with _write_lock:
            return method(self, *args, **kwargs)

    return locked


for _name in ("put_item", "update_item", "delete_item", "transact_write_items"):
    setattr(DynamoDBBackend, _name, _serialised(getattr(DynamoDBBackend, _name)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--until-stdin-closes", action="store_true")
    parser.add_argument("--iam", metavar="DIR", help="log authorisation decisions under DIR")
    args = parser.parse_args()
    flush_iam_log = None
    if args.iam:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "iam"))
        import moto_iam

        os.makedirs(args.iam, exist_ok=True)
        flush_iam_log = moto_iam.install(
            os.path.join(args.iam, "denials.jsonl"), os.path.join(args.iam, "allowed.json")
        )
    # One line per request drowns the test output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.until_stdin_closes:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    # A request thread still waiting (a long poll, or one stuck under load) can keep the server's
    # shutdown from returning, which once left `make fuzz` waiting on this process for 10 minutes:
    # give it 5 s, then leave without it.
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=5)
    if flush_iam_log is not None:
        flush_iam_log()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
