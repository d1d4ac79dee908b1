"""A small Chrome DevTools Protocol driver for the end-to-end tests: Debian's Chromium, raw CDP.

Playwright would need a browser download this machine cannot do; the few CDP commands the tests need
(navigate, evaluate, screenshot, a WebAuthn virtual authenticator) fit in one module over ``websockets``.

One websocket to the browser carries every page session (``Target.attachToTarget`` with ``flatten``), so
commands and events are told apart by ``sessionId``. The driver is synchronous: :meth:`CdpConnection.send`
reads messages until its answer arrives and keeps the events it passes for :meth:`CdpConnection.wait_event`.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

__all__ = [
    "CHROMIUM_FLAGS",
    "BrowserError",
    "CdpConnection",
    "CdpError",
    "Chromium",
    "JavaScriptError",
    "Page",
    "VirtualAuthenticatorOptions",
    "find_chromium",
]

# Headless flags that work as root in a container: no sandbox (root), no GPU, and no background traffic to
# Google services that would slow the start or hang without network.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=900,900",
)

_DEVTOOLS_LINE = re.compile(r"DevTools listening on (ws://\S+)")


class BrowserError(RuntimeError):
    """Chromium could not be started or stopped answering."""


class CdpError(RuntimeError):
    """A CDP command returned an error object."""

    def __init__(self, method: str, error: Mapping[str, Any]) -> None:
        self.method = method
        self.code = int(error.get("code", 0))
        self.error_message = str(error.get("message", ""))
        detail = f"{method}: {self.error_message} (code {self.code}) {error.get('data', '')}"
        super().__init__(detail.rstrip())


class JavaScriptError(RuntimeError):
    """Page JavaScript threw (or a promise rejected) during :meth:`Page.evaluate`."""


def find_chromium() -> str | None:
    """Return the Chromium executable to use, or ``None`` when none is installed.

    ``SSO_SIGNER_CHROMIUM`` overrides the lookup; otherwise ``chromium`` (Debian) or ``chromium-browser``.
    """
    override = os.environ.get("SSO_SIGNER_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class CdpConnection:
    """One websocket to the browser endpoint; commands are matched to answers by id."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and return its ``result``.

        Raises:
            CdpError: If the browser answers with an error.
            BrowserError: If no answer arrives within ``timeout`` seconds.
        """
        with self._lock:
            msg_id = next(self._ids)
            message: dict[str, Any] = {"id": msg_id, "method": method, "params": dict(params or {})}
            if session_id is not None:
                message["sessionId"] = session_id
            self._ws.send(json.dumps(message))
            deadline = time.monotonic() + timeout
            while True:
                incoming = self._receive(deadline, f"answer to {method}")
                if incoming.get("id") == msg_id:
                    if "error" in incoming:
                        raise CdpError(method, incoming["error"])
                    result: dict[str, Any] = incoming.get("result", {})
                    return result
                if "method" in incoming:
                    self._events.append(incoming)

    def wait_event(
        self,
        method: str,
        *,
        session_id: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Return (and consume) the first event ``method`` for ``session_id``, waiting up to ``timeout`` s."""

        def matches(event: dict[str, Any]) -> bool:
            if event.get("method") != method:
                return False
            if session_id is not None and event.get("sessionId") != session_id:
                return False
            return predicate is None or predicate(event.get("params", {}))

        with self._lock:
            for index, event in enumerate(self._events):
                if matches(event):
                    del self._events[index]
                    return event
            deadline = time.monotonic() + timeout
            while True:
                incoming = self._receive(deadline, f"event {method}")
                if "method" not in incoming:
                    continue
                if matches(incoming):
                    return incoming
                self._events.append(incoming)

    def drain_events(self, method: str, *, session_id: str | None = None) -> list[dict[str, Any]]:
        """Remove and return the buffered events ``method`` (for ``session_id``) seen so far."""
        with self._lock:
            taken = [
                e
                for e in self._events
                if e.get("method") == method and (session_id is None or e.get("sessionId") == session_id)
            ]
            self._events = [e for e in self._events if not any(e is t for t in taken)]
            return taken

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrowserError(f"timed out waiting for {waiting_for}")
        try:
            raw = self._ws.recv(timeout=remaining)
        except TimeoutError as exc:
            raise BrowserError(f"timed out waiting for {waiting_for}") from exc
        decoded: dict[str, Any] = json.loads(raw)
        return decoded

    def close(self) -> None:
        self._ws.close()


@dataclass(frozen=True, slots=True)
class VirtualAuthenticatorOptions:
    """``WebAuthn.addVirtualAuthenticator`` options; defaults: a platform passkey that verifies the user."""

    protocol: str = "ctap2"
    ctap2_version: str = "ctap2_1"
    transport: str = "internal"
    has_resident_key: bool = True
    has_user_verification: bool = True
    is_user_verified: bool = True
    automatic_presence_simulation: bool = True

    def to_cdp(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "ctap2Version": self.ctap2_version,
            "transport": self.transport,
            "hasResidentKey": self.has_resident_key,
            "hasUserVerification": self.has_user_verification,
            "isUserVerified": self.is_user_verified,
            "automaticPresenceSimulation": self.automatic_presence_simulation,
        }


@dataclass
class Page:
    """One browser tab (a CDP page session)."""

    connection: CdpConnection
    target_id: str
    session_id: str
    console: list[str] = field(default_factory=list)

    def send(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Send a command to this tab."""
        return self.connection.send(method, params, session_id=self.session_id, timeout=timeout)

    def goto(self, url: str, *, timeout: float = 30.0) -> None:
        """Navigate and wait for the load event.

        Raises:
            BrowserError: If the navigation fails (e.g. connection refused) or does not finish in time.
        """
        self.connection.drain_events("Page.loadEventFired", session_id=self.session_id)
        result = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise BrowserError(f"navigating to {url}: {result['errorText']}")
        self.connection.wait_event("Page.loadEventFired", session_id=self.session_id, timeout=timeout)

    def evaluate(self, expression: str, *, timeout: float = 30.0) -> Any:
        """Evaluate ``expression`` in the page (promises awaited) and return its JSON value.

        Raises:
            JavaScriptError: If the expression throws or its promise rejects.
        """
        result = self.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "awaitPromise": True,
                "returnByValue": True,
                "userGesture": True,
                "timeout": int(timeout * 1000),
            },
            timeout=timeout + 5,
        )
        self._collect_console()
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            described = details.get("exception", {}).get("description") or details.get("text", "")
            raise JavaScriptError(f"{described}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float = 15.0, interval: float = 0.05) -> Any:
        """Poll ``expression`` until it is truthy and return its value.

        Raises:
            BrowserError: If it stays falsy for ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression!r} (last value {value!r})")
            time.sleep(interval)

    def screenshot(self, path: pathlib.Path) -> pathlib.Path:
        """Save a PNG of the viewport to ``path`` (parents created)."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def add_virtual_authenticator(self, options: VirtualAuthenticatorOptions | None = None) -> str:
        """Enable the WebAuthn domain for this tab and plug in a virtual authenticator; returns its id."""
        self.send("WebAuthn.enable", {"enableUI": False})
        opts = options or VirtualAuthenticatorOptions()
        result = self.send("WebAuthn.addVirtualAuthenticator", {"options": opts.to_cdp()})
        return str(result["authenticatorId"])

    def authenticator_credentials(self, authenticator_id: str) -> list[dict[str, Any]]:
        """The credentials the virtual authenticator holds (id, rpId, signCount, ...)."""
        result = self.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
        credentials: list[dict[str, Any]] = result.get("credentials", [])
        return credentials

    def set_user_verified(self, authenticator_id: str, verified: bool) -> None:
        """Make the virtual authenticator succeed or fail user verification from now on."""
        params = {"authenticatorId": authenticator_id, "isUserVerified": verified}
        self.send("WebAuthn.setUserVerified", params)

    def _collect_console(self) -> None:
        for event in self.connection.drain_events("Runtime.consoleAPICalled", session_id=self.session_id):
            args = event.get("params", {}).get("args", [])
            self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))


class Chromium:
    """A headless Chromium process with a fresh profile, driven over CDP. Use as a context manager."""

    def __init__(self, executable: str | None = None, *, extra_flags: tuple[str, ...] = ()) -> None:
        found = executable or find_chromium()
        if found is None:
            raise BrowserError("chromium not found (apt-get install -y chromium)")
        self.executable = found
        self.extra_flags = extra_flags
        self.stderr_lines: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._connection: CdpConnection | None = None
        self._pages: list[Page] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def connection(self) -> CdpConnection:
        if self._connection is None:
            raise BrowserError("browser not started")
        return self._connection

    def start(self, *, timeout: float = 20.0) -> None:
        """Launch the browser and connect to its DevTools endpoint.

        Raises:
            BrowserError: If the DevTools endpoint is not announced within ``timeout`` seconds.
        """
        self._profile = tempfile.TemporaryDirectory(prefix="sso-signer-chromium-")
        argv = [
            self.executable,
            *CHROMIUM_FLAGS,
            *self.extra_flags,
            f"--user-data-dir={self._profile.name}",
            "about:blank",
        ]
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        endpoint: list[str] = []
        announced = threading.Event()

        def pump(stream: Iterator[str]) -> None:
            # Keep reading stderr for the whole life of the process so the pipe never fills up and blocks it.
            for line in stream:
                self.stderr_lines.append(line.rstrip("\n"))
                match = _DEVTOOLS_LINE.search(line)
                if match and not announced.is_set():
                    endpoint.append(match.group(1))
                    announced.set()
            announced.set()

        assert self._process.stderr is not None
        threading.Thread(target=pump, args=(self._process.stderr,), daemon=True).start()
        if not announced.wait(timeout) or not endpoint:
            tail = "\n".join(self.stderr_lines[-20:])
            self.close()
            raise BrowserError(f"chromium did not announce its DevTools endpoint:\n{tail}")
        # Entered as a context manager: websockets >= 17.1 warns about bare connect() calls.
        ws = self._stack.enter_context(connect(endpoint[0], max_size=64 * 1024 * 1024, open_timeout=timeout))
        self._connection = CdpConnection(ws)

    def new_page(self) -> Page:
        """Open a new tab with Page and Runtime events enabled."""
        target_id = str(self.connection.send("Target.createTarget", {"url": "about:blank"})["targetId"])
        attached = self.connection.send("Target.attachToTarget", {"targetId": target_id, "flatten": True})
        session_id = str(attached["sessionId"])
        page = Page(self.connection, target_id, session_id)
        page.send("Page.enable")
        page.send("Runtime.enable")
        self._pages.append(page)
        return page

    def close(self) -> None:
        """Close the connection, stop the process (terminate, then kill) and remove the profile."""
        if self._connection is not None:
            # The browser may already be gone (ConnectionClosed); the process is reaped below either way.
            with contextlib.suppress(BrowserError, CdpError, OSError, ConnectionClosed):
                self._connection.send("Browser.close", timeout=5)
            self._stack.close()
            self._connection = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None
