"""A real HTTP server on 127.0.0.1 (threaded) that forwards JSON-RPC to a running node or bundler and injects
faults for chosen methods: a garbled body, a JSON-RPC error, a receipt of the wrong shape, a body nested too
deep, or an answer dripped one byte every half second.

Everything not named in ``faults`` is forwarded unchanged, so the node or bundler behind it stays the source
of truth (the hash it knows, the bytes it holds). Without an upstream, ``answers`` gives fixed results (for
the Era ``0x71`` sends, which plain anvil refuses).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

Fault = Callable[[dict[str, Any]], bytes]


def garbage(_: dict[str, Any]) -> bytes:
    """Not JSON at all."""
    return b"<html>502 upstream hiccup</html>"


def rpc_error(body: dict[str, Any]) -> bytes:
    """A JSON-RPC error object for the request."""
    error = {"code": -32603, "message": "internal error: receipt index corrupted"}
    return json.dumps({"jsonrpc": "2.0", "id": body.get("id"), "error": error}).encode()


def wrong_shape(body: dict[str, Any]) -> bytes:
    """Well-formed JSON-RPC whose result is not a receipt."""
    return json.dumps({"jsonrpc": "2.0", "id": body.get("id"), "result": {"status": "maybe"}}).encode()


def too_deep(body: dict[str, Any]) -> bytes:
    """A result nested far deeper than any JSON-RPC answer (deep enough to trip a recursion limit, not so deep
    that a parser without a depth bound crashes the test process)."""
    depth = 5_000
    return b'{"jsonrpc":"2.0","id":%d,"result":' % body.get("id", 0) + b"[" * depth + b"]" * depth + b"}"


#: Marks a method whose answer is dripped: headers at once, then one byte every ``drip_interval`` seconds.
DRIP = "drip"
#: As :data:`DRIP`, after forwarding the request upstream: the node or bundler does get it.
FORWARD_THEN_DRIP = "forward-then-drip"


class FaultServer:
    """The server; use :func:`fault_server` to run one for a test.

    Attributes:
        url: Where to point a client.
        requests: Every JSON-RPC request body received, in order (batches as lists).
    """

    def __init__(
        self,
        upstream: str | None,
        faults: dict[str, Fault | str],
        answers: Mapping[str, object] | None = None,
        drip_interval: float = 0.5,
        drip_for: float = 30.0,
    ) -> None:
        self.upstream = upstream
        self.faults = faults
        self.answers: Mapping[str, object] = answers or {}
        self.drip_interval = drip_interval
        self.drip_for = drip_for
        self.requests: list[Any] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=60.0)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                server.handle(self, self.rfile.read(length))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def sent(self, method: str) -> list[Any]:
        """The ``params`` of every request for ``method`` (single or batched), in order."""
        with self._lock:
            bodies = list(self.requests)
        found = []
        for body in bodies:
            for call in body if isinstance(body, list) else [body]:
                if call.get("method") == method:
                    found.append(call.get("params"))
        return found

    def handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        body = json.loads(raw)
        with self._lock:
            self.requests.append(body)
        calls = body if isinstance(body, list) else [body]
        fault = next((self.faults[c.get("method")] for c in calls if c.get("method") in self.faults), None)
        if fault == FORWARD_THEN_DRIP and self.upstream is not None:
            self._http.post(self.upstream, content=raw, headers={"content-type": "application/json"})
        if fault in (DRIP, FORWARD_THEN_DRIP):
            self._drip(handler)
            return
        if callable(fault):
            self._reply(handler, fault(calls[0]))
            return
        if self.upstream is None:
            answers = [
                {"jsonrpc": "2.0", "id": c.get("id"), "result": self.answers.get(c.get("method"))}
                for c in calls
            ]
            self._reply(handler, json.dumps(answers if isinstance(body, list) else answers[0]).encode())
            return
        forwarded = self._http.post(self.upstream, content=raw, headers={"content-type": "application/json"})
        self._reply(handler, forwarded.content, forwarded.status_code)

    def _reply(self, handler: BaseHTTPRequestHandler, payload: bytes, status: int = 200) -> None:
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        handler.wfile.flush()

    def _drip(self, handler: BaseHTTPRequestHandler) -> None:
        # Every byte arrives well within any per-read timeout; only a wall-clock bound stops the client.
        total = int(self.drip_for / self.drip_interval)
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(total + 1))
        handler.end_headers()
        handler.wfile.flush()
        try:
            for _ in range(total):
                if self.stopping.wait(self.drip_interval):
                    break
                handler.wfile.write(b" ")
                handler.wfile.flush()
        except OSError:  # the client gave up and closed the connection: what the test wants
            pass
        handler.close_connection = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._http.close()


@contextmanager
def fault_server(
    upstream: str | None,
    faults: dict[str, Fault | str],
    *,
    answers: Mapping[str, object] | None = None,
    drip_interval: float = 0.5,
) -> Iterator[FaultServer]:
    """Run a :class:`FaultServer` for the duration of the ``with`` block."""
    server = FaultServer(upstream, faults, answers, drip_interval)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Stopwatch:
    """Seconds since creation (liveness bounds, not benchmarks)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start
