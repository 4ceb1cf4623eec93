"""Runs a moto server on a free loopback port until stdin closes, i.e. until the test process ends.

Prints the port on the first line of stdout once the server accepts connections.
"""
import sys

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
