"""uvicorn serving the example's FastAPI app on the loopback interface: in a thread, in the foreground, or
as several worker processes sharing the listening socket (uvicorn's own supervisor)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

__all__ = ["ExampleServer"]


class HeaderDeadlineH11(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's headers.

    uvicorn starts no timer before the headers of a request are complete: a socket that sends nothing, or
    drips a header line now and then, stays open for ever, and ``limit_concurrency`` of them make uvicorn
    answer every other client 503. Here the connection is closed when a request's headers are not complete
    ``header_timeout`` seconds after its first byte (or after the connection opened); a client's dripping
    does not move the deadline. The body has its own limit (:class:`~examples.dapp_backend.RequestGuard`).
    A module-level class: worker processes receive it by name.
    """

    header_timeout = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the headers are in: a request is being served
        elif data:
            self._arm()  # a next request began: from its first byte

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()


def _header_deadline_protocol(header_timeout: float) -> type[H11Protocol]:
    if header_timeout == HeaderDeadlineH11.header_timeout:
        return HeaderDeadlineH11
    return type("HeaderDeadlineH11", (HeaderDeadlineH11,), {"header_timeout": header_timeout})


class ExampleServer:
    """A uvicorn server on ``host:port``; the socket is bound at construction so the origin is known early.

    The page must be opened as ``http://localhost:PORT`` (not ``127.0.0.1``): browsers treat ``localhost``
    as a secure context, and the WebAuthn rpId ``localhost`` must match the page's host name.

    Args:
        app: The ASGI application (may be set later, before :meth:`start`).
        port: Port to bind (0: any free port).
        host: Interface to bind (an IPv6 address, such as ``::1``, binds an IPv6 socket).
        keep_alive: Seconds an idle keep-alive connection stays open.
        max_connections: Concurrent connections/requests beyond which uvicorn answers 503.
        header_timeout: Seconds a client gets to send a request's headers (idle or dripping sockets are
            closed after it, so they cannot hold ``max_connections`` for ever).
        workers: Worker processes (uvicorn's supervisor; each accepts on the same socket). With more than
            one, ``app`` is an import string of a factory each worker calls (``module:function``), and the
            server runs in the foreground only (:meth:`serve_forever`).
    """

    def __init__(
        self,
        app: Any = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        keep_alive: int = 5,
        max_connections: int = 200,
        header_timeout: float = 10.0,
        workers: int = 1,
    ) -> None:
        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # asyncio sets TCP_NODELAY only on sockets created with proto=IPPROTO_TCP, and this one has proto 0:
        # without it every response waits ~40 ms (Nagle between uvicorn's header and body writes meets the
        # client's delayed ACK). Accepted connections inherit the option.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((host, port))
        self._keep_alive = keep_alive
        self._max_connections = max_connections
        self._header_timeout = header_timeout
        self._workers = workers
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def origin(self) -> str:
        """The web origin the browser reports for this server (``http://localhost:PORT``)."""
        return f"http://localhost:{self.port}"

    def _make(self) -> uvicorn.Server:
        if self.app is None:
            raise RuntimeError("no application to serve")
        several = self._workers > 1
        if several and (
            not isinstance(self.app, str) or self._header_timeout != HeaderDeadlineH11.header_timeout
        ):
            raise RuntimeError(
                "several workers need the app as a factory's import string, and the default header timeout"
            )
        config = uvicorn.Config(
            self.app,
            factory=several,
            workers=self._workers,
            log_config=None,  # the app logs one line per request itself
            access_log=False,
            # The example app opens its async store in its lifespan, in the event loop that serves it; a
            # failure there (store unreachable) stops the start ("auto" also serves apps without one).
            lifespan="auto",
            server_header=False,
            # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default, and every client of this loopback
            # server is on 127.0.0.1: a client could pick its own address and dodge the per-address
            # limits. Behind a real proxy, turn this on with that proxy's address in forwarded_allow_ips.
            proxy_headers=False,
            timeout_keep_alive=self._keep_alive,
            limit_concurrency=self._max_connections,
            http=_header_deadline_protocol(self._header_timeout),
            # Bounds what a client can make the server buffer before a request is complete (headers).
            h11_max_incomplete_event_size=16 * 1024,
        )
        self._server = uvicorn.Server(config)
        return self._server

    def start(self) -> ExampleServer:
        """Serve in a background thread; returns once the server accepts connections."""
        if self._workers > 1:
            raise RuntimeError("several workers are served in the foreground: call serve_forever()")
        server = self._make()
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name=f"http-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until Ctrl-C or SIGTERM (uvicorn handles both).

        With several workers, uvicorn's supervisor starts them (each builds its app from the factory),
        restarts one that dies, and stops them all on Ctrl-C or SIGTERM; call it from the main thread.
        """
        server = self._make()
        if self._workers > 1:
            Multiprocess(server.config, sockets=[self._socket]).run()
        else:
            server.run(sockets=[self._socket])

    def stop(self) -> None:
        """Stop serving (open requests get a few seconds) and close the socket."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> ExampleServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
