"""An HTTP client of the example backend as a browser page would be: same-origin ``Origin`` header, JSON
bodies, and the session cookie kept between requests."""

from __future__ import annotations

import secrets
from typing import Any, Protocol

import httpx
from eth_utils.address import to_checksum_address

from examples.dapp_backend import Limits
from sso_signer._codec import b64url_decode
from sso_signer.webauthn import HeadlessPasskey

# Tests sign up many users from one address; the spending limits are tested in test_example_attacks.
ROOMY = Limits(
    funding_per_ip_burst=10_000,
    funding_global_burst=10_000,
    options_per_ip_burst=10_000,
    registrations_per_ip_burst=10_000,
)


def fresh_address() -> str:
    """A random checksummed address (a recipient nobody has sent to)."""
    return to_checksum_address(secrets.token_bytes(20))


class _Server(Protocol):
    @property
    def origin(self) -> str: ...
    @property
    def port(self) -> int: ...


class Served(Protocol):
    """What a client needs of an example: its server's origin and port (a ``RunningExample``, or the
    multi-worker example of ``tests/browser/workers.py``)."""

    @property
    def server(self) -> _Server: ...


class PageClient:
    """One browser session against the example (its own cookie jar).

    Args:
        example: The running example.
        origin: The ``Origin`` header sent (the server's own by default).
    """

    def __init__(self, example: Served, *, origin: str | None = None) -> None:
        self.example = example
        self.origin = origin or example.server.origin
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{example.server.port}", timeout=60)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(self, path: str, body: object = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """POST ``body`` as JSON; returns the status and the JSON answer."""
        headers = {"origin": self.origin, **kwargs.pop("headers", {})}
        if "content" not in kwargs:
            kwargs["json"] = {} if body is None else body
        response = self.http.post(path, headers=headers, **kwargs)
        answer: dict[str, Any] = response.json()
        return response.status_code, answer

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        response = self.http.get(path)
        answer: dict[str, Any] = response.json()
        return response.status_code, answer

    def passkey(self, **kwargs: Any) -> HeadlessPasskey:
        """A new headless passkey for this relying party (counting signatures unless told otherwise)."""
        kwargs.setdefault("counter_mode", "increment")
        return HeadlessPasskey.generate(rp_id="localhost", origin=self.example.server.origin, **kwargs)

    def sign_up(
        self, name: str | None = None, passkey: HeadlessPasskey | None = None
    ) -> tuple[str, HeadlessPasskey, dict[str, Any]]:
        """Sign up a new user with a new passkey; this client is then signed in as that user."""
        name = name or f"user-{secrets.token_hex(4)}"
        passkey = passkey or self.passkey()
        status, options = self.post("/api/register/options", {"user": name})
        assert status == 200, options
        status, answer = self.post(
            "/api/register/verify", {"credential": passkey.register_from_options(options)}
        )
        assert status == 200, answer
        return name, passkey, answer

    def sign_in(self, passkey: HeadlessPasskey, name: str | None = None) -> tuple[int, dict[str, Any]]:
        """Sign in with ``passkey`` (discoverable, or checking ``name``)."""
        status, options = self.post("/api/login/options", {"user": name} if name else {})
        assert status == 200, options
        return self.post(
            "/api/login/verify", {"credential": passkey.sign(b64url_decode(options["challenge"])).to_json()}
        )

    def prepare(self, to: str, value: str) -> tuple[int, dict[str, Any]]:
        """Ask for a transfer of ``value`` ETH to ``to``."""
        return self.post("/api/tx/options", {"to": to, "value": value})

    def approve(
        self, passkey: HeadlessPasskey, request: dict[str, Any], **sign: Any
    ) -> tuple[int, dict[str, Any]]:
        """Sign a prepared operation with ``passkey`` and submit it."""
        approval = passkey.sign(b64url_decode(request["options"]["challenge"]), **sign)
        return self.post("/api/tx/submit", {"opId": request["opId"], "credential": approval.to_json()})

    def send(self, passkey: HeadlessPasskey, to: str, value: str) -> dict[str, Any]:
        """Prepare, sign and submit a transfer; asserts each step succeeds."""
        status, request = self.prepare(to, value)
        assert status == 200, request
        status, answer = self.approve(passkey, request)
        assert status == 200, answer
        return answer
