"""Session keys in the example: the user's passkey approves a capped recurring transfer once, and the
backend then sends it with a key it holds, without a prompt, until a limit, the expiry or a revocation
stops it.

The backend builds the :class:`~sso_signer.sso.SessionSpec` from a small validated request (a recipient, an
amount per payment, a daily allowance, a lifetime in hours), generates the secp256k1 session key itself and
keeps it in the shared store, sealed (AES-GCM under a key derived from the cookie secret every worker shares):
it is never sent to the browser. Creating and revoking a session are ordinary passkey-approved operations (the
same ``/api/tx/submit`` as a transfer); *using* it is one request that the backend signs alone with
:meth:`~sso_signer.accounts.Erc4337Account.send_with_session` on the session's own nonce lane
(``uint160(signer)``), so several workers may use one session at once. What a session may still do is read
from chain (``session_state``): the chain, not the store, is the truth about limits, expiry and revocation.

When the preflight refuses a use because the session is used up, expired or revoked, the answer is 409 with
the rule and ``"fallback": true``: the page then offers the same transfer with the passkey.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_utils.address import to_checksum_address

from examples.dapp_backend import _store as ops
from examples.dapp_backend._backend import Flow, Step, _DappFlows, _sent_failure, eth_text
from examples.dapp_backend._erc4337 import Erc4337AnvilGateway
from examples.dapp_backend._errors import InvalidRequest, RateLimited, SessionNotFound, SessionsUnavailable
from examples.dapp_backend._store import User
from sso_signer import hex_encode
from sso_signer.accounts import LocalSessionKey, SessionInfo
from sso_signer.exceptions import ErrorCode, SessionRefused, StoreUnavailable
from sso_signer.sso import SessionKeyValidator, SessionSpec, TransferPolicy, UsageLimit
from sso_signer.webauthn import PostgresStore, SQLiteStore, SqlStatement

__all__ = ["SessionKeyVault", "SessionLimits", "SessionRecord", "SessionService", "session_keys_schema"]

DAY = 86_400
# The validator's session status (``sessionStatus``): 0 never created, 1 active, 2 closed (revoked).
_NOT_CREATED, _ACTIVE = 0, 1
#: Refusals after which the page offers the passkey instead (the SDK's default fallback set).
FALLBACK = frozenset(
    {
        ErrorCode.SESSION_EXPIRED,
        ErrorCode.SESSION_NOT_ACTIVE,
        ErrorCode.SESSION_LIFETIME_LIMIT,
        ErrorCode.SESSION_PERIOD_LIMIT,
    }
)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Bounds on what a session request may ask for, and how many a user may hold.

    Attributes:
        per_user: Sessions a user may hold at once (awaiting approval or active).
        max_daily_wei: The largest daily allowance a session may be given.
        max_hours: The longest lifetime, in hours.
        fee_per_day_wei: The gas fees a session may spend a day (charged at the maximum fee, never refunded).
        uses_rate: Session payments per second one user may ask for (each costs gas).
        uses_burst: Session payments one user may ask for at once.
        stale_after: Seconds after which a session never approved is dropped (its approval expired).
    """

    per_user: int = 3
    max_daily_wei: int = 10**17
    max_hours: int = 7 * 24
    fee_per_day_wei: int = 5 * 10**16
    uses_rate: float = 0.5
    uses_burst: float = 10
    stale_after: float = 600.0


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session key the backend holds for a user (its key sealed).

    Attributes:
        session_id: Random id the page refers to.
        owner: The user.
        account: The user's smart account.
        spec: The session, as approved.
        sealed_key: The session's private key, sealed by :class:`SessionKeyVault`.
        created_at: When the backend proposed it.
    """

    session_id: str
    owner: str
    account: str
    spec: SessionSpec
    sealed_key: bytes
    created_at: float


class SessionKeyVault:
    """Seals session keys for the store: AES-256-GCM under a key derived (HKDF-SHA256) from ``secret``.

    Every worker derives the same key from the shared cookie secret; the sealed blob is bound (associated
    data) to its session id and user, so a row copied to another user or session does not open.

    Args:
        secret: The example's shared secret (``SSO_EXAMPLE_SESSION_SECRET``).
    """

    def __init__(self, secret: str) -> None:
        derive = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sso-example session keys v1")
        self._aead = AESGCM(derive.derive(secret.encode()))

    def seal(self, key: LocalSessionKey, *, session_id: str, owner: str) -> bytes:
        """The key's private bytes, encrypted: ``nonce ‖ ciphertext ‖ tag``."""
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, bytes(key.account.key), _bound(session_id, owner))

    def open(self, sealed: bytes, *, session_id: str, owner: str) -> LocalSessionKey:
        """The session key back.

        Raises:
            SessionsUnavailable: If the blob does not open under this secret (the secret changed).
        """
        try:
            raw = self._aead.decrypt(sealed[:12], sealed[12:], _bound(session_id, owner))
        except InvalidTag:
            raise SessionsUnavailable(
                "this session's key does not open with the current secret (was the secret changed?)"
            ) from None
        return LocalSessionKey(raw)


def _bound(session_id: str, owner: str) -> bytes:
    return f"{session_id}\n{owner}".encode()


# --- the store: one table beside the example's others ---

Rows = list[tuple[Any, ...]]
Op = Generator[SqlStatement, Rows, Any]
S = SqlStatement

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS app_session_keys (session_id TEXT PRIMARY KEY, owner TEXT NOT NULL,"
    " account TEXT NOT NULL, spec {blob} NOT NULL, session_hash {blob} NOT NULL UNIQUE,"
    " sealed_key {blob} NOT NULL, created_at {real} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS app_session_keys_owner ON app_session_keys (owner)",
)
_COLUMNS = "session_id, owner, account, spec, sealed_key, created_at"


def session_keys_schema() -> Op:
    """Create the session-key table where missing."""
    for statement in _SCHEMA:
        yield S(statement)


def _add(record: SessionRecord, cap: int) -> Op:
    # The user's row is locked first (PostgreSQL): two workers adding for one user count one after the other.
    yield S("SELECT name FROM app_users WHERE name = :owner{lock}", {"owner": record.owner})
    stored = yield S(
        f"INSERT INTO app_session_keys ({_COLUMNS}, session_hash)"  # noqa: S608 - a constant column list
        " SELECT :session_id, :owner, :account, :spec, :sealed_key, :created_at, :session_hash"
        " WHERE (SELECT count(*) FROM app_session_keys WHERE owner = :owner) < :cap RETURNING session_id",
        {
            "session_id": record.session_id,
            "owner": record.owner,
            "account": record.account,
            "spec": record.spec.encode(),
            "sealed_key": record.sealed_key,
            "created_at": record.created_at,
            "session_hash": record.spec.session_hash,
            "cap": cap,
        },
    )
    return bool(stored)


def _record(row: Sequence[Any]) -> SessionRecord:
    return SessionRecord(
        row[0], row[1], row[2], SessionSpec.decode(bytes(row[3])), bytes(row[4]), float(row[5])
    )


def _of(owner: str) -> Op:
    rows = yield S(
        f"SELECT {_COLUMNS} FROM app_session_keys WHERE owner = :owner"  # noqa: S608 - constant columns
        " ORDER BY created_at DESC, session_id",
        {"owner": owner},
    )
    return [_record(r) for r in rows]


def _one(session_id: str, owner: str) -> Op:
    rows = yield S(
        f"SELECT {_COLUMNS} FROM app_session_keys"  # noqa: S608 - constant columns
        " WHERE session_id = :id AND owner = :owner",
        {"id": session_id, "owner": owner},
    )
    return _record(rows[0]) if rows else None


def _drop(session_ids: Sequence[str]) -> Op:
    for session_id in session_ids:
        yield S("DELETE FROM app_session_keys WHERE session_id = :id", {"id": session_id})


# --- the service ---


class SessionService:
    """The session endpoints' logic, for the signed-in user (the web layer passes the name).

    Each endpoint is a flow of steps (like the backend's methods) run by the backend passed in: the server
    runs them on its :class:`~examples.dapp_backend.AsyncDappBackend`, so their SQL, the chain reads and the
    session-key payments are awaited on the async store and the gateway's async clients
    (``AsyncErc4337Account.session_state`` / ``send_with_session``).

    Args:
        store: The SDK store the backend's tables live in (the session keys' table is created beside them
            now); ``None``: sessions are unavailable (an app store of another kind).
        vault: Seals the session keys.
        limits: Bounds on sessions.
    """

    def __init__(
        self,
        store: SQLiteStore | PostgresStore | None,
        vault: SessionKeyVault,
        *,
        limits: SessionLimits | None = None,
    ) -> None:
        self.vault = vault
        self.limits = limits or SessionLimits()
        self.available = store is not None
        if store is not None:
            try:
                store.transaction(session_keys_schema)
            except StoreUnavailable:  # PostgreSQL: another worker created it at the same moment
                store.transaction(session_keys_schema)

    def _sql(self, b: _DappFlows, make: Callable[[], Op], *, read_only: bool = False) -> Flow[Any]:
        if not self.available:
            raise SessionsUnavailable("session keys need the example's SQL store")
        return (yield from b._sql(make, read_only=read_only))

    def _account(self, b: _DappFlows, name: str) -> Flow[tuple[Erc4337AnvilGateway, User, Any]]:
        chain = b.chain
        if not isinstance(chain, Erc4337AnvilGateway) or chain.bundler is None:
            raise SessionsUnavailable("session keys need the ERC-4337 flow with a bundler (--bundler)")
        user: User = yield from _DappFlows.user.fn(b, name)
        passkey = yield from b._first_passkey(user)
        # The SDK account on the backend's clients: AsyncErc4337Account on the server's async backend.
        return chain, user, chain.account(user.account, passkey, clients=b.clients)

    def _record(self, b: _DappFlows, name: str, session_id: str) -> Flow[SessionRecord]:
        found: SessionRecord | None = yield from self._sql(b, partial(_one, session_id, name), read_only=True)
        if found is None:
            raise SessionNotFound("no session with this id")
        return found

    def create_options(
        self, b: _DappFlows, name: str, *, recipient: str, per_use: int, daily: int, hours: int
    ) -> Flow[dict[str, Any]]:
        """Propose a session (a fresh key, a spec built from the request) and ask the passkey to approve it.

        Args:
            b: The backend running the flow.
            name: The signed-in user.
            recipient: The only address the session may pay.
            per_use: Wei per payment at most.
            daily: Wei a day at most (an allowance over 24 h periods).
            hours: Lifetime.

        Returns:
            ``{session, opId, options, transaction, expiresAt}``: the proposed session's view and the
            operation to approve (with ``/api/tx/submit``).

        Raises:
            InvalidRequest: A bound is broken (naming the field).
            RateLimited: The user already holds ``per_user`` sessions, or asks too often.
            SessionsUnavailable: Not the ERC-4337 flow with a bundler.
        """
        gateway, user, account = yield from self._account(b, name)
        if per_use <= 0:
            raise InvalidRequest("perUseEth: must be more than 0", field="perUseEth")
        if not per_use <= daily <= self.limits.max_daily_wei:
            raise InvalidRequest(
                f"dailyEth: must be at least perUseEth and at most {eth_text(self.limits.max_daily_wei)}",
                field="dailyEth",
            )
        if not 1 <= hours <= self.limits.max_hours:
            raise InvalidRequest(f"hours: must be 1 to {self.limits.max_hours}", field="hours")
        if int(recipient, 16) == 0 or recipient.lower() == user.account.lower():
            raise InvalidRequest(
                "recipient: must be another address than the account or zero", field="recipient"
            )
        yield from self._charge(b, name)
        yield from self._forget_finished(b, name, account)
        key = LocalSessionKey.generate()
        block = (yield Step(b.clients.eth.get_block, ("latest",))) or {}
        now = int(block.get("timestamp", "0x0"), 16)
        spec = SessionSpec(
            signer=key.address,
            expires_at=now + hours * 3600,
            fee_limit=UsageLimit.allowance(self.limits.fee_per_day_wei, DAY),
            transfer_policies=(
                TransferPolicy(to_checksum_address(recipient), per_use, UsageLimit.allowance(daily, DAY)),
            ),
        )
        session_id = secrets.token_urlsafe(12)
        record = SessionRecord(
            session_id,
            name,
            user.account,
            spec,
            self.vault.seal(key, session_id=session_id, owner=name),
            time.time(),
        )
        if not (yield from self._sql(b, partial(_add, record, self.limits.per_user))):
            raise RateLimited(
                f"you hold {self.limits.per_user} sessions already; revoke one or let it expire",
                retry_after=self.limits.stale_after,
            )
        proof = key.sign_hash(spec.proof_digest(user.account))
        try:
            calls = yield from gateway.session_validator_calls(b.clients, user.account)
            calls.append(
                (
                    str(gateway.deployment.session_validator),
                    0,
                    SessionKeyValidator.create_session(spec, proof),
                )
            )
            passkey = yield from b._first_passkey(user)
            prepared = yield from gateway.prepare_calls(b.clients, user.account, calls, passkey=passkey)
            approval = yield from b._ask_approval(user, prepared)
        except BaseException:
            yield from self._sql(b, partial(_drop, [session_id]))
            raise
        approval["transaction"] = {**approval["transaction"], "session": "create", "sessionId": session_id}
        approval["session"] = _view(record, None)
        return approval

    def sessions(self, b: _DappFlows, name: str) -> Flow[dict[str, Any]]:
        """The user's sessions with their limits and what remains, read from chain."""
        _, _, account = yield from self._account(b, name)
        records: list[SessionRecord] = yield from self._sql(b, partial(_of, name), read_only=True)
        views = []
        for record in records:
            info = yield Step(account.session_state, (record.spec,))
            views.append(_view(record, info))
        return {"sessions": views}

    def use(self, b: _DappFlows, name: str, session_id: str, *, value: int) -> Flow[dict[str, Any]]:
        """Pay ``value`` wei to the session's recipient with the session key: no passkey.

        Raises:
            SessionNotFound: Not one of the user's sessions.
            SessionRefused: The preflight (or the validator) refuses: the rule says why; in
                :data:`FALLBACK` the page offers the passkey.
            RateLimited: Too many payments asked for.
            FailedAfterSend: Paid, but reading the session's state for the answer failed (with the hashes).
        """
        record = yield from self._record(b, name, session_id)
        yield from self._charge(b, name)
        _, _, account = yield from self._account(b, name)
        key = self.vault.open(record.sealed_key, session_id=session_id, owner=name)
        recipient = record.spec.transfer_policies[0].target
        receipt = yield Step(account.send_with_session, (record.spec, key, recipient, value))
        paid = {
            "message": f"Paid {eth_text(value)} ETH with the session key (no passkey prompt).",
            "status": "included",
            "userOpHash": hex_encode(receipt.user_op_hash),
            "transactionHash": hex_encode(receipt.receipt.transaction_hash),
            "nonceKey": hex(record.spec.nonce_key),
        }
        try:
            info = yield Step(account.session_state, (record.spec,))
        except Exception as exc:
            # Paid already: the answer must say so, with the hashes, whatever fails after.
            raise _sent_failure(
                paid, None, "included", "reading the session's state failed; it is not sent again"
            ) from exc
        return {**paid, "session": _view(record, info)}

    def revoke_options(self, b: _DappFlows, name: str, session_id: str) -> Flow[dict[str, Any]]:
        """Ask the passkey to approve ``revokeKey(session)``.

        Raises:
            SessionNotFound: Not one of the user's sessions.
            SessionRefused (``SESSION_NOT_ACTIVE``): Never approved, or already revoked.
        """
        record = yield from self._record(b, name, session_id)
        gateway, user, account = yield from self._account(b, name)
        info: SessionInfo = yield Step(account.session_state, (record.spec,))
        if info.status != _ACTIVE:
            raise SessionRefused(
                "this session is not active (never approved, or already revoked): nothing to revoke",
                verdict="SessionNotActive",
                session_hash=record.spec.session_hash,
                rule=ErrorCode.SESSION_NOT_ACTIVE,
            )
        validator = str(gateway.deployment.session_validator)
        passkey = yield from b._first_passkey(user)
        prepared = yield from gateway.prepare_call(
            b.clients,
            user.account,
            to=validator,
            value=0,
            data=SessionKeyValidator.revoke_key(record.spec.session_hash),
            passkey=passkey,
        )
        approval = yield from b._ask_approval(user, prepared)
        approval["transaction"] = {**approval["transaction"], "session": "revoke", "sessionId": session_id}
        return approval

    def _charge(self, b: _DappFlows, name: str) -> Flow[None]:
        key = f"session:{name}"
        wait: float = yield from b._sql(
            partial(ops.take_token, key, self.limits.uses_rate, self.limits.uses_burst, b.clock())
        )
        if wait > 0:
            raise RateLimited(f"too many session requests; retry in {wait:.0f} s", retry_after=wait)

    def _forget_finished(self, b: _DappFlows, name: str, account: Any) -> Flow[None]:
        # Revoked and expired sessions, and proposals whose approval expired, no longer count against the cap.
        records: list[SessionRecord] = yield from self._sql(b, partial(_of, name), read_only=True)
        stale = time.time() - self.limits.stale_after
        done = []
        for record in records:
            info: SessionInfo = yield Step(account.session_state, (record.spec,))
            unapproved = info.status == _NOT_CREATED and record.created_at < stale
            if info.revoked or info.expired or unapproved:
                done.append(record.session_id)
        if done:
            yield from self._sql(b, partial(_drop, done))


def _view(record: SessionRecord, info: SessionInfo | None) -> dict[str, Any]:
    spec = record.spec
    policy = spec.transfer_policies[0]
    view: dict[str, Any] = {
        "sessionId": record.session_id,
        "signer": spec.signer,
        "sessionHash": hex_encode(spec.session_hash),
        "recipient": policy.target,
        "perUseWei": str(policy.max_value_per_use),
        "perUseEth": eth_text(policy.max_value_per_use),
        "dailyWei": str(policy.value_limit.limit),
        "dailyEth": eth_text(policy.value_limit.limit),
        "feeLimitEth": eth_text(spec.fee_limit.limit),
        "expiresAt": spec.expires_at,
        "status": "awaiting approval",
    }
    if info is None:
        return view
    remaining = info.transfer_value[0].remaining if info.transfer_value else 0
    if info.revoked:
        status = "revoked"
    elif info.expired:
        status = "expired"
    elif info.status != _ACTIVE:
        status = "awaiting approval"
    elif remaining == 0:
        status = "used up today"
    else:
        status = "active"
    view.update(
        status=status,
        remainingTodayWei=str(remaining),
        remainingTodayEth=eth_text(remaining),
        feesRemainingEth=eth_text(info.fees_remaining),
        periodEndsAt=(info.timestamp // DAY + 1) * DAY,
        chainTime=info.timestamp,
    )
    return view
