"""A byte relay in front of a real node or bundler that SIGKILLs it while a request is in flight (a stand-in
for the load balancer or gateway in front of a real service). It forwards every request unchanged; on the
first request of the trigger method it kills the upstream process, either before forwarding (the upstream
never saw it) or after the upstream answered (the answer is lost with it). When the upstream is gone the
relay drops the client's connection without an answer, like a TCP balancer."""

from __future__ import annotations

import http.client
import os
import signal
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["KillingRelay", "running_relay"]


class KillingRelay(socketserver.ThreadingTCPServer):
    """Forwards HTTP requests to ``127.0.0.1:upstream_port``; kills the upstream process on the first request
    of ``trigger`` (a JSON-RPC method), before forwarding it or after the upstream answered it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream_port: int, trigger: str = "eth_sendRawTransaction") -> None:
        super().__init__(("127.0.0.1", 0), _RelayHandler)
        self.upstream_port = upstream_port
        self.trigger = trigger.encode()
        self.kill_mode: str | None = None  # "before" / "after" the node sees the send
        self.victim_pid: int | None = None
        self.sends_seen: list[bytes] = []  # bodies of trigger requests that reached the relay
        self.node_answers: list[bytes] = []  # what the upstream answered to a request the relay then dropped

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def kill_node(self) -> None:
        assert self.victim_pid is not None
        os.kill(self.victim_pid, signal.SIGKILL)  # AnvilNode, the process's owner, reaps it at stop()


class _RelayHandler(socketserver.StreamRequestHandler):
    server: KillingRelay

    def handle(self) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            chunk = self.rfile.readline()
            if not chunk:
                return
            head += chunk
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = self.rfile.read(length)
        relay = self.server
        is_send = b'"' + relay.trigger + b'"' in body
        if is_send:
            relay.sends_seen.append(body)
        mode = relay.kill_mode if is_send else None
        if mode is not None:
            relay.kill_mode = None  # one kill per test
        if mode == "before":
            relay.kill_node()
        try:
            upstream = http.client.HTTPConnection("127.0.0.1", relay.upstream_port, timeout=10)
            upstream.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
            answer = upstream.getresponse()
            status, data = answer.status, answer.read()
            upstream.close()
        except OSError:
            return  # the node is gone: drop the client connection without an answer, like a TCP balancer
        if mode == "after":
            relay.node_answers.append(data)
            relay.kill_node()
            return  # the node executed the send; its answer is lost with it
        head = b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\n" % status
        head += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(data)
        self.wfile.write(head + data)


@contextmanager
def running_relay(upstream_port: int, trigger: str = "eth_sendRawTransaction") -> Iterator[KillingRelay]:
    """Serve a relay on a free loopback port for the duration of the block."""
    server = KillingRelay(upstream_port, trigger)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
