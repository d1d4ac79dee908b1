"""Slow clients against the example's HTTP server: connections that never finish their request headers.

uvicorn starts no timer before a request's headers are complete, and with ``limit_concurrency`` reached it
answers every other client 503: a few hundred idle or dripping sockets took the server down for as long as
they stayed open. Against the real uvicorn server with a tiny ASGI app (no chain needed).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from examples.dapp_backend import ExampleServer

CONNECTIONS = 4
HEADER_TIMEOUT = 1.0


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture
def server() -> Iterator[ExampleServer]:
    with ExampleServer(_hello, max_connections=CONNECTIONS, header_timeout=HEADER_TIMEOUT) as running:
        yield running


def _served(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True


def test_idle_connections_do_not_lock_everyone_out(server: ExampleServer) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(CONNECTIONS)]
    try:
        for sock in idle[:-1]:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        time.sleep(0.2)
        assert not _served(server.port)  # the cap is reached: the attack is real while they stay
        deadline = time.monotonic() + HEADER_TIMEOUT + 5
        while not _served(server.port):
            assert time.monotonic() < deadline, "idle connections still hold the server"
            time.sleep(0.2)
    finally:
        for sock in idle:
            sock.close()


def test_a_client_dripping_its_headers_is_cut_off(server: ExampleServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=0.3) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        while time.monotonic() - started < HEADER_TIMEOUT + 5:
            try:
                sock.sendall(b"X-Drip: a\r\n")  # one header line at a time, never the blank line
            except OSError:
                break
            if _closed_by_server(sock):
                break
        waited = time.monotonic() - started
    assert waited < HEADER_TIMEOUT + 2, f"a dripping client held its connection {waited:.1f} s"


def test_a_prompt_client_keeps_its_connection(server: ExampleServer) -> None:
    # The deadline is on headers only: a keep-alive client making requests promptly is served each time.
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
        for _ in range(5):
            assert client.get("/").status_code == 200
            time.sleep(HEADER_TIMEOUT / 3)
