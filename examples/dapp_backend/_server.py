"""The HTTP side of the example: the page, its script, and one JSON endpoint per backend step (stdlib only).

Every ``POST /api/...`` body is a JSON object handed to a :class:`~examples.dapp_backend.DappBackend` method;
the method's dict comes back as JSON. An SDK error becomes a JSON answer naming its class, so the page (and a
test) sees ``OriginMismatch`` or ``ChallengeAlreadyUsed`` rather than a generic failure.
"""

from __future__ import annotations

import json
import logging
import pathlib
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sso_signer._errors import (
    ConfigurationError,
    InvalidInputError,
    RemoteError,
    SsoSignerError,
    StateError,
    VerificationError,
)

__all__ = ["STATIC_DIR", "ExampleServer", "error_status"]

STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static"
_STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
}
_MAX_BODY = 256 * 1024  # an attestation is a few hundred bytes; anything near this is not a browser talking

log = logging.getLogger("examples.dapp_backend")

Endpoint = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def error_status(exc: SsoSignerError) -> HTTPStatus:
    """Map an SDK error category to the HTTP status the page receives.

    Args:
        exc: The error a backend step raised.

    Returns:
        400 for malformed input, 403 for a failed check, 409 for a state conflict (used challenge, duplicate
        credential), 502 when the chain or bundler failed, 500 for a set-up problem.
    """
    if isinstance(exc, VerificationError):
        return HTTPStatus.FORBIDDEN
    if isinstance(exc, StateError):
        return HTTPStatus.CONFLICT
    if isinstance(exc, InvalidInputError):
        return HTTPStatus.BAD_REQUEST
    if isinstance(exc, RemoteError):
        return HTTPStatus.BAD_GATEWAY
    if isinstance(exc, ConfigurationError):
        return HTTPStatus.INTERNAL_SERVER_ERROR
    return HTTPStatus.BAD_REQUEST


class ExampleServer:
    """A threading HTTP server on the loopback interface, serving the page and the JSON endpoints.

    The page must be opened as ``http://localhost:PORT`` (not ``127.0.0.1``): browsers treat ``localhost``
    as a secure context, and the WebAuthn rpId ``localhost`` must match the page's host name.
    """

    def __init__(self, endpoints: Mapping[str, Endpoint], *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.endpoints = dict(endpoints)
        handler = _make_handler(self.endpoints)
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        """The web origin the browser reports for this server (``http://localhost:PORT``)."""
        return f"http://localhost:{self.port}"

    def start(self) -> ExampleServer:
        """Serve in a background thread and return ``self``."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"http-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ExampleServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _make_handler(endpoints: Mapping[str, Endpoint]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "sso-signer-example"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in _STATIC_FILES:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": "NotFound", "message": f"no page {path}"})
                return
            name, content_type = _STATIC_FILES[path]
            body = (STATIC_DIR / name).read_bytes()
            self.send_response(HTTPStatus.OK)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            endpoint = endpoints.get(self.path)
            if endpoint is None:
                self._send_json(
                    HTTPStatus.NOT_FOUND, {"error": "NotFound", "message": f"no endpoint {self.path}"}
                )
                return
            length = int(self.headers.get("content-length") or 0)
            if length > _MAX_BODY:
                self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "TooLarge", "message": "body"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except (UnicodeDecodeError, json.JSONDecodeError):
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": "NotJson", "message": "body is not JSON"})
                return
            if not isinstance(body, dict):
                self._send_json(
                    HTTPStatus.BAD_REQUEST, {"error": "NotJson", "message": "body is not an object"}
                )
                return
            try:
                answer = endpoint(body)
            except SsoSignerError as exc:
                # The class name is the contract with the page: it names the check that failed.
                log.info("%s -> %s: %s", self.path, type(exc).__name__, exc)
                self._send_json(error_status(exc), {"error": type(exc).__name__, "message": str(exc)})
                return
            except Exception as exc:
                log.exception("%s failed", self.path)
                self._send_json(
                    HTTPStatus.INTERNAL_SERVER_ERROR, {"error": type(exc).__name__, "message": str(exc)}
                )
                return
            self._send_json(HTTPStatus.OK, answer)

        def _send_json(self, status: HTTPStatus, payload: Mapping[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return Handler
