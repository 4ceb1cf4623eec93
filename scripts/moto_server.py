"""Runs a moto server on loopback for the local stack and the tests.

    python scripts/moto_server.py [--port N]

Prints the port on the first line of stdout once the server accepts connections. With --port 0
(the default) the OS picks a free port. It stops on SIGTERM/SIGINT, or when stdin closes if
--until-stdin-closes is given (so a test process that dies takes its emulator with it).

DynamoDB makes each conditional write atomic; moto's threaded server does not, so two concurrent
conditional updates of one item can both pass. Writes are serialised here to keep that guarantee,
which the idempotency keys and the delivery's `queued -> sending` transition rely on.
"""
import argparse
import logging
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
    args = parser.parse_args()
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
    server.stop()


if __name__ == "__main__":
    main()
