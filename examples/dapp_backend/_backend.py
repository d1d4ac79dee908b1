"""The dapp backend: the steps a web application runs to give each user a passkey-controlled smart account.

Each public method is one HTTP endpoint: it takes the JSON body the page posted and returns the JSON answer.

Sign-up
    ``register_options`` → the browser runs ``navigator.credentials.create`` → ``register``: the relying party
    verifies the attestation (user verification required, origin, single-use challenge), stores the credential
    in the SQLite store, and the chain gateway creates the account whose validator holds that passkey.
Sign-in
    ``login_options`` (random challenge) → ``navigator.credentials.get`` → ``login``.
Approve a transaction
    ``tx_options``: the backend builds the transaction and hands its *signed hash* to the browser as the
    WebAuthn challenge → ``navigator.credentials.get`` → ``tx_submit``: the relying party verifies the
    assertion (and burns the challenge), the SDK turns it into the validator's signature bytes, and the
    gateway checks and submits them.
Add a passkey
    ``key_options`` → ``navigator.credentials.create`` (the new passkey) → ``key_link``: the backend builds
    the account call ``addValidationKey(new key)`` and returns it for approval with a passkey the account
    already has → ``tx_submit``.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from examples.dapp_backend._errors import (
    AccountAlreadyExists,
    InvalidRequest,
    NoPendingTransaction,
    UnknownUser,
    WrongUser,
)
from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer.webauthn import Assertion, ChallengeAlreadyIssued, PasskeyCredential, RelyingParty

__all__ = ["AccountGateway", "DappBackend", "PreparedCall"]

_USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A call from an account, built by the gateway, waiting for a passkey approval.

    Attributes:
        account: The smart-account address the call is sent from.
        to: The call target.
        value: Wei sent with the call.
        data: Calldata.
        challenge: The hash the passkey must sign (the WebAuthn challenge).
        summary: What the page shows the user before they approve (JSON-able).
        payload: Gateway-private state needed to submit (e.g. the unsigned transaction).
    """

    account: str
    to: str
    value: int
    data: bytes
    challenge: bytes
    summary: Mapping[str, Any]
    payload: object


class AccountGateway(Protocol):
    """The chain side: create an account for a passkey, prepare calls from it, submit approved calls."""

    def create_account(self, credential: PasskeyCredential) -> str: ...

    def prepare_call(self, account: str, *, to: str, value: int, data: bytes) -> PreparedCall: ...

    def link_key_call(self, account: str, credential: PasskeyCredential) -> tuple[str, bytes]: ...

    def submit(
        self, prepared: PreparedCall, assertion: Assertion, credential: PasskeyCredential
    ) -> dict[str, Any]: ...


class DappBackend:
    """Users, passkeys and accounts of the example dapp (thread-safe; one instance per server).

    Args:
        rp: The WebAuthn relying party; its store keeps the passkeys and the single-use challenges.
        chain: The account gateway.
        database: SQLite path for the users table (``":memory:"`` by default).
    """

    def __init__(self, rp: RelyingParty, chain: AccountGateway, *, database: str = ":memory:") -> None:
        self.rp = rp
        self.chain = chain
        self._db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, handle BLOB NOT NULL, account TEXT)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS passkeys (credential_id BLOB PRIMARY KEY, user TEXT NOT NULL)"
        )
        self._lock = threading.Lock()
        # Prepared calls by challenge; popped on submit so one approval can never send two transactions.
        # The last members: the options sent for it (asked again for the same hash, they are resent: the
        # relying party issues a challenge once) and the id of the passkey the call links (add-a-key).
        self._pending: dict[bytes, tuple[str, PreparedCall, dict[str, Any], bytes | None]] = {}
        # Passkeys created for "add a key" that wait for their linking transaction, by credential id.
        self._unlinked: dict[bytes, tuple[str, PasskeyCredential]] = {}

    def endpoints(self) -> dict[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]]:
        """The ``POST`` routes of the page, path → handler."""
        return {
            "/api/register/options": self.register_options,
            "/api/register/verify": self.register,
            "/api/login/options": self.login_options,
            "/api/login/verify": self.login,
            "/api/tx/options": self.tx_options,
            "/api/tx/submit": self.tx_submit,
            "/api/keys/options": self.key_options,
            "/api/keys/link": self.key_link,
        }

    # --- sign-up / sign-in ---

    def register_options(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Registration options for a new user (``{"user": name}``).

        Raises:
            InvalidRequest: If the user name is missing or not 1-64 of ``A-Z a-z 0-9 _ . @ -``.
            AccountAlreadyExists: If the name is taken.
        """
        name = _user_name(body)
        with self._lock:
            row = self._db.execute("SELECT handle, account FROM users WHERE name = ?", (name,)).fetchone()
            if row is not None and row[1] is not None:
                raise AccountAlreadyExists(f"user {name!r} already has an account; sign in instead")
            handle = bytes(row[0]) if row is not None else secrets.token_bytes(16)
            self._db.execute("INSERT OR IGNORE INTO users (name, handle) VALUES (?, ?)", (name, handle))
        return self.rp.registration_options(user_name=name, user_handle=handle)

    def register(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Verify the new passkey (``{"user", "credential"}``), store it and create the user's account.

        Returns:
            ``{"user", "account", "credentialId", "message"}``.

        Raises:
            InvalidRequest: If the body is malformed.
            UnknownUser: If no registration was started for this user.
            WrongUser: If the credential's user handle is another user's.
            VerificationError: The relying party's check that failed (``OriginMismatch``,
                ``UserVerificationMissing``, ``ChallengeAlreadyUsed`` ...).
        """
        name = _user_name(body)
        handle = self._handle(name)
        credential = self.rp.verify_registration(_credential(body))
        try:
            if credential.user_handle and credential.user_handle != handle:
                raise WrongUser(f"the new passkey was created for another user than {name!r}")
            account = self.chain.create_account(credential)
        except BaseException:
            # No account, no passkey: otherwise the stored credential would be excluded from the next
            # attempt, and the authenticator holding it would refuse to create another one.
            self.rp.store.remove_credential(credential.credential_id)
            raise
        with self._lock:
            self._db.execute("UPDATE users SET account = ? WHERE name = ?", (account, name))
            self._db.execute("INSERT INTO passkeys VALUES (?, ?)", (credential.credential_id, name))
        return {
            "user": name,
            "account": account,
            "credentialId": b64url_encode(credential.credential_id),
            "message": f"Signed up: account {account} is controlled by your passkey.",
        }

    def login_options(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Sign-in options: a fresh random challenge; the user's passkeys if a user name is given."""
        allow = self._credential_ids(_user_name(body)) if body.get("user") else None
        return self.rp.authentication_options(secrets.token_bytes(32), credential_ids=allow)

    def login(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Verify a sign-in assertion (``{"credential"}``) and name its user and account.

        Raises:
            VerificationError: The relying party's check that failed.
            UnknownUser: If the passkey is valid but belongs to no user here.
        """
        verified = self.rp.verify_authentication(_credential(body))
        name, account = self._owner_of(verified.credential.credential_id)
        return {"user": name, "account": account, "message": f"Signed in as {name}."}

    # --- transactions ---

    def tx_options(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Build a transfer ``{"user", "to", "value"}``; return WebAuthn options whose challenge is its hash.

        Raises:
            InvalidRequest: If ``to`` is not a 20-byte hex address or ``value`` not a non-negative integer.
            UnknownUser: If the user has no account.
        """
        name = _user_name(body)
        to = body.get("to")
        if not isinstance(to, str) or not _ADDRESS.match(to):
            raise InvalidRequest("to: expected a 0x-prefixed 20-byte hex address")
        value = _wei(body.get("value", 0))
        return self._ask_approval(
            name, self.chain.prepare_call(self._account(name), to=to, value=value, data=b"")
        )

    def key_options(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Registration options for an additional passkey of a signed-in user (``{"user"}``)."""
        name = _user_name(body)
        self._account(name)
        # The relying party lists the user's passkeys in excludeCredentials: a device makes one per user.
        return self.rp.registration_options(user_name=name, user_handle=self._handle(name))

    def key_link(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Verify the new passkey (``{"user", "credential"}``) and prepare the account call that installs it.

        Returns:
            The approval request (``{"options", "transaction"}``) to be signed by an existing passkey.
        """
        name = _user_name(body)
        account = self._account(name)
        credential = self.rp.verify_registration(_credential(body))
        to, data = self.chain.link_key_call(account, credential)
        with self._lock:
            self._unlinked[credential.credential_id] = (name, credential)
        prepared = self.chain.prepare_call(account, to=to, value=0, data=data)
        return self._ask_approval(name, prepared, links=credential.credential_id)

    def tx_submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Verify the approval assertion (``{"user", "credential"}``) and submit the prepared call.

        Raises:
            VerificationError: The relying party's failed check (a replayed assertion:
                ``ChallengeAlreadyUsed``), ``WrongUser``, or the validator rule that rejects the signature.
            NoPendingTransaction: If the assertion is valid but signs no call prepared here (or a sent one).
        """
        name = _user_name(body)
        # Verifying consumes the challenge: a replayed or second assertion over this hash fails here.
        verified = self.rp.verify_authentication(_credential(body))
        owner, _ = self._owner_of(verified.credential.credential_id)
        if owner != name:
            raise WrongUser(f"this passkey belongs to {owner!r}, the transaction to {name!r}")
        with self._lock:
            pending = self._pending.get(verified.challenge)
            if pending is None or pending[0] != name:
                raise NoPendingTransaction("the signed challenge is not a transaction prepared for this user")
            del self._pending[verified.challenge]
        _, prepared, _, linked = pending
        result = self.chain.submit(prepared, verified.assertion, verified.credential)
        if linked is not None:
            with self._lock:
                _, new_credential = self._unlinked.pop(linked)
                self._db.execute("INSERT INTO passkeys VALUES (?, ?)", (new_credential.credential_id, name))
            result["message"] = "New passkey linked to the account."
        return result

    # --- helpers ---

    def _ask_approval(
        self, name: str, prepared: PreparedCall, *, links: bytes | None = None
    ) -> dict[str, Any]:
        with self._lock:
            earlier = self._pending.get(prepared.challenge)
            if earlier is not None and earlier[0] == name:
                options = earlier[2]  # the same transaction again (same nonce): its challenge is still open
            else:
                try:
                    options = self.rp.authentication_options(
                        prepared.challenge, credential_ids=self._credential_ids(name)
                    )
                except ChallengeAlreadyIssued:
                    # Same fields, same nonce, same hash: its challenge was already spent on an approval.
                    raise NoPendingTransaction(
                        "this exact transaction was already signed once; change it or send another first"
                    ) from None
            self._pending[prepared.challenge] = (name, prepared, options, links)
        summary = dict(prepared.summary)
        if links is not None:
            summary["linksPasskey"] = b64url_encode(links)
        return {"options": options, "transaction": summary}

    def _handle(self, name: str) -> bytes:
        row = self._db.execute("SELECT handle FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UnknownUser(f"no user {name!r}: sign up first")
        return bytes(row[0])

    def _account(self, name: str) -> str:
        row = self._db.execute("SELECT account FROM users WHERE name = ?", (name,)).fetchone()
        if row is None or row[0] is None:
            raise UnknownUser(f"user {name!r} has no account: sign up first")
        return str(row[0])

    def _credential_ids(self, name: str) -> list[bytes]:
        rows = self._db.execute("SELECT credential_id FROM passkeys WHERE user = ?", (name,)).fetchall()
        return [bytes(r[0]) for r in rows]

    def _owner_of(self, credential_id: bytes) -> tuple[str, str]:
        row = self._db.execute(
            "SELECT users.name, users.account FROM passkeys JOIN users ON users.name = passkeys.user "
            "WHERE passkeys.credential_id = ?",
            (credential_id,),
        ).fetchone()
        if row is None:
            raise UnknownUser("this passkey is not linked to any account here")
        return str(row[0]), str(row[1])


def _user_name(body: Mapping[str, Any]) -> str:
    name = body.get("user")
    if not isinstance(name, str) or not _USER_NAME.match(name):
        raise InvalidRequest("user: expected 1-64 characters of A-Z a-z 0-9 _ . @ -")
    return name


def _credential(body: Mapping[str, Any]) -> Mapping[str, Any]:
    credential = body.get("credential")
    if not isinstance(credential, Mapping):
        raise InvalidRequest("credential: expected the PublicKeyCredential JSON object")
    return credential


def _wei(value: object) -> int:
    if isinstance(value, bool):
        raise InvalidRequest("value: expected an integer amount of wei")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 0 or value >= 1 << 256:
        raise InvalidRequest("value: expected a non-negative integer amount of wei")
    return value


def decode_challenge(options: Mapping[str, Any]) -> bytes:
    """The raw challenge bytes of a WebAuthn options JSON object (tests and scripts use it)."""
    return b64url_decode(str(options["challenge"]), field="challenge")
