"""The dapp backend: the steps a web application runs to give each user a passkey-controlled smart account.

Every method acting for a user takes that user from the caller (the web layer reads it from the signed-in
session), never from a request body. State lives in an :class:`~examples.dapp_backend._store.AppStore`.

Sign-up
    ``signup_options`` → the browser runs ``navigator.credentials.create`` → ``signup``: the registration
    must be the one this browser session started (its user handle is compared with the challenge's), the
    relying party verifies the attestation, the funding rate limits are charged, and the chain gateway
    creates the account whose validator holds that passkey.
Sign-in
    ``login_options`` (a random challenge, kept in the session; discoverable: no credential ids are sent)
    → ``navigator.credentials.get`` → ``login``.
Approve a transaction
    ``tx_options``: the backend builds the transaction, stores it as a pending operation (expiring, capped
    per user) and hands its *signed hash* to the browser as the WebAuthn challenge →
    ``navigator.credentials.get`` → ``tx_submit``: the assertion must answer that operation's hash and come
    from one of the user's passkeys; the operation is claimed once (atomically), the SDK turns the
    assertion into the validator's signature bytes, and the gateway checks and submits them.
Add a passkey
    ``key_options`` → ``navigator.credentials.create`` (the new passkey) → ``key_link``: the registration is
    bound to the session's user; the backend builds the account call ``addValidationKey(new key)`` as a
    pending operation approved with a passkey the account already has → ``tx_submit``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from starlette.concurrency import run_in_threadpool

from examples.dapp_backend import _store as ops
from examples.dapp_backend._errors import (
    AccountAlreadyExists,
    FailedAfterSend,
    InvalidRequest,
    NoPendingTransaction,
    NoRegistrationInProgress,
    OperationExpired,
    RateLimited,
    UnknownUser,
    WrongUser,
)
from examples.dapp_backend._store import (
    PendingOperation,
    Registration,
    RegistrationPurpose,
    SqlAppStore,
    User,
)
from sso_signer import b64url_decode, b64url_encode, hex_decode, hex_encode
from sso_signer.exceptions import AfterSendError, AlreadyExists, TransactionReverted, UserOperationReverted
from sso_signer.rpc import AsyncEthClient
from sso_signer.webauthn import (
    Assertion,
    AsyncPostgresStore,
    AsyncRelyingParty,
    AsyncSQLiteStore,
    PasskeyCredential,
    RegistrationResponse,
    RelyingParty,
)

__all__ = [
    "AccountGateway",
    "AsyncDappBackend",
    "DappBackend",
    "Flow",
    "Limits",
    "PreparedCall",
    "Step",
    "eth_text",
    "wei_from_eth",
]

T = TypeVar("T")
P = ParamSpec("P")

log = logging.getLogger("examples.dapp_backend")

USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_ETH = re.compile(r"^[0-9]{1,30}(\.[0-9]{1,18})?$", re.ASCII)
WEI_PER_ETH = 10**18


def wei_from_eth(text: str, *, field: str = "value") -> int:
    """Parse an ETH amount written as a decimal string (``"0.01"``) into wei, exactly.

    Raises:
        InvalidRequest: Unless it is ASCII digits with at most 18 decimals (no sign, exponent or ``"²"``);
            ``field`` names the body field.
    """
    if not _ETH.match(text):
        raise InvalidRequest(f"{field}: expected an ETH amount like 0.01 (at most 18 decimals)", field=field)
    # Integer arithmetic: Decimal's default 28-digit context rounded longer amounts (up to 48 digits here).
    whole, _, fraction = text.partition(".")
    return int(whole) * WEI_PER_ETH + int(fraction.ljust(18, "0"))


def eth_text(wei: int) -> str:
    """Wei as an ETH decimal string without trailing zeros (``10**16`` → ``"0.01"``)."""
    whole, fraction = divmod(wei, WEI_PER_ETH)
    return f"{whole}.{fraction:018d}".rstrip("0").rstrip(".")


def _address_group(client: str) -> str:
    """The part of a client address its per-address buckets are keyed on.

    An IPv4 address is itself (an IPv4-mapped IPv6 address too: a dual-stack socket reports IPv4 peers so).
    An IPv6 address counts as its /64 network: one client is handed at least a /64 and picks addresses in
    it at will, so keying on the whole address let it dodge every per-address limit.

    Args:
        client: The peer address as the server reports it (anything else, e.g. ``"unknown"``, is kept).

    Returns:
        ``"192.0.2.7"``, or ``"2001:db8:1:2::/64"`` for every address of that /64.
    """
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    # Through the integer: drops a zone id (fe80::1%eth0) too, which the client may vary as well.
    return f"{ipaddress.IPv6Address(int(address) >> 64 << 64)}/64"


@dataclass(frozen=True, slots=True)
class Limits:
    """The example's bounds. Rates are per second; a bucket holds at most ``burst`` tokens.

    Attributes:
        funding_per_ip_rate: Sign-ups funded per second for one client address.
        funding_per_ip_burst: Sign-ups one address can make at once.
        funding_global_rate: Sign-ups funded per second in total.
        funding_global_burst: Sign-ups at once in total.
        options_per_ip_rate: Options requests (challenges stored) per second per address; transfer options
            are also limited at this rate per user.
        options_per_ip_burst: Options requests at once per address (and transfer options per user).
        pending_per_user: Operations one user may have waiting for (or undergoing) a signature check.
        operation_ttl: Seconds an operation waits for its signature (at most the challenge lifetime).
        registrations: Registrations in progress, in total.
        registrations_per_ip_burst: Registrations one address may start at once; its bucket refills over
            ``registration_ttl``, so an address holds at most about twice this many in progress (each
            cookie-less request is a new session: the options budget alone let a few addresses fill
            ``registrations`` and close sign-up for everyone).
        registration_ttl: Seconds a registration waits for the browser's answer.
        reads_rate: Account and session-list reads (``GET /api/session``, ``GET /api/sessions``: chain
            reads each) per second per signed-in user, or per address before sign-in.
        reads_burst: Such reads at once (the page spends two per refresh, at most two refreshes per action).
        session_ttl: Seconds a signed-in session lives.
        finished_kept: Finished operations kept per user (the page lists them).
        settle_grace: Seconds an operation stays ``signed`` or ``sent`` after its claim before its outcome is
            read from the chain (its worker stopped before recording it), and between two such reads.
        settle_batch: Operations whose outcome one housekeeping round reads from the chain.
        unrecorded_kept: Writes the store refused after a send (outcomes, new users) one backend holds for
            its next request; past it an outcome is not held (it stays ``signed`` and ``settle`` records it
            from the chain) and a new user takes the place of the oldest held outcome.
    """

    funding_per_ip_rate: float = 5 / 3600
    funding_per_ip_burst: float = 5
    funding_global_rate: float = 100 / 3600
    funding_global_burst: float = 20
    options_per_ip_rate: float = 1.0
    options_per_ip_burst: float = 60
    pending_per_user: int = 8
    operation_ttl: float = 300.0
    registrations: int = 10_000
    registrations_per_ip_burst: float = 20
    registration_ttl: float = 300.0
    reads_rate: float = 2.0
    reads_burst: float = 60
    session_ttl: float = 12 * 3600.0
    finished_kept: int = 20
    settle_grace: float = 120.0
    settle_batch: int = 4
    unrecorded_kept: int = 64


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
        payload: Gateway-private state needed to submit, JSON-able (it is stored between requests).
    """

    account: str
    to: str
    value: int
    data: bytes
    challenge: bytes
    summary: Mapping[str, Any]
    payload: Mapping[str, Any]


class AccountGateway(Protocol):
    """The chain side: create an account for a passkey, prepare calls from it, submit approved calls.

    Its chain operations are flows of :class:`Step` s (written once, like the backend's methods) on the
    ``clients`` the driver hands them: :meth:`clients` (sync, for :class:`DappBackend`) or those
    :meth:`async_clients` opens in the server's event loop (for :class:`AsyncDappBackend`). A gateway whose
    work stays blocking yields ``blocking`` steps and ignores ``clients``.
    """

    def clients(self) -> Any: ...

    def async_clients(self) -> contextlib.AbstractAsyncContextManager[Any]: ...

    def create_account(self, clients: Any, credential: PasskeyCredential) -> Flow[tuple[str, str]]: ...

    def prepare_call(
        self, clients: Any, account: str, *, to: str, value: int, data: bytes, passkey: PasskeyCredential
    ) -> Flow[PreparedCall]: ...

    def link_key_call(self, account: str, credential: PasskeyCredential) -> tuple[str, bytes]: ...

    def submit(
        self, clients: Any, prepared: PreparedCall, assertion: Assertion, credential: PasskeyCredential
    ) -> Flow[dict[str, Any]]: ...

    def outcome(
        self, clients: Any, prepared: PreparedCall, tx_hash: str | None
    ) -> Flow[tuple[str, str | None, str | None] | None]: ...

    def balance(self, account: str) -> int: ...


def user_tag(name: str | None) -> str:
    """A short, stable, non-reversible tag of a user name for logs (no names in log lines)."""
    return "-" if name is None else hashlib.sha256(name.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a backend flow waits for: ``call(*args, **kwargs)``.

    ``call`` is a ceremony of the relying party, a call of its passkey store, the SQL store's
    ``transaction``, or a chain call of the gateway's clients (on the async backend each returns a
    coroutine, awaited on the event loop), or, with ``blocking``, a chain call that stays blocking on both
    backends (the async one runs it in the thread pool: the Era gateway's, and the balance without an
    async client).
    """

    call: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    blocking: bool = False


#: A backend method written once: a generator of :class:`Step` s returning the method's result.
Flow = Generator[Step, Any, T]


class _flow(Generic[P, T]):  # noqa: N801 - used as a decorator, named like one
    """A backend method written once as a flow: returns its value on :class:`DappBackend`, a coroutine of it
    on :class:`AsyncDappBackend`. On the class it is this descriptor, whose ``fn`` other flows enter with
    ``yield from``."""

    def __init__(self, fn: Callable[Concatenate[Any, P], Flow[T]]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> _flow[P, T]: ...
    @overload
    def __get__(self, obj: DappBackend, owner: type[Any] | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, obj: AsyncDappBackend, owner: type[Any] | None = None
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        fn = self.fn

        def bound(*args: Any, **kwargs: Any) -> Any:
            return obj.run(obj._reconciled(fn(obj, *args, **kwargs)))

        bound.__doc__ = fn.__doc__
        return bound


def _resume(flow: Flow[Any], value: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Send ``value`` (or throw ``error``) into ``flow``: ``(False, next step)`` or ``(True, its value)``."""
    try:
        return False, (flow.throw(error) if error is not None else flow.send(value))
    except StopIteration as stop:
        return True, stop.value


_Write = Callable[[], ops.Op[bool]]


class _Unrecorded:
    """The writes the store refused after a send, held for the backend's next request: at most ``cap``.

    Past the cap an operation's outcome (``settles``) is not held: it stays ``signed`` or ``sent`` in the
    store, where :meth:`_DappFlows.settle` reads it from the chain. A new user has no such second path: it
    takes the place of the oldest held outcome, and is dropped only when every held write is a user.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._held: deque[tuple[_Write, bool]] = deque()
        self._lock = threading.Lock()  # DappBackend is called from many threads

    def __len__(self) -> int:
        return len(self._held)

    def keep(self, write: _Write, *, settles: bool, first: bool = False) -> bool:
        """Hold ``write`` (at the front with ``first``); False if it is not held."""
        with self._lock:
            if len(self._held) >= self.cap:
                outcome = None if settles else next((h for h in self._held if h[1]), None)
                if outcome is None:
                    return False
                self._held.remove(outcome)
                log.warning("an operation's outcome is no longer held; left to the chain reads of settle")
            if first:
                self._held.appendleft((write, settles))
            else:
                self._held.append((write, settles))
            return True

    def take(self) -> tuple[_Write, bool] | None:
        """The oldest held write and whether it is an outcome, removed; None if none is held."""
        with self._lock:
            return self._held.popleft() if self._held else None


class _DappFlows:
    """Users, passkeys and accounts of the example dapp: each step written once, as a flow of :class:`Step` s.

    The relying party's ceremonies, its store and the SQL store are the backend's own (sync or async); the
    account gateway is the same for both, its flows run on the backend's ``clients`` (sync or async). All
    state is in the store, so any number of backends (threads, workers) share it; only the writes the store
    refused after a send are held here, at most ``Limits.unrecorded_kept``, until its next method.
    """

    def __init__(
        self,
        rp: Any,
        chain: AccountGateway,
        transaction: Callable[..., Any],
        limits: Limits | None,
        clock: Callable[[], float],
    ) -> None:
        self.rp = rp
        self.chain = chain
        self.limits = limits or Limits()
        self.clock = clock
        self._transaction = transaction
        self.eth: AsyncEthClient | None = None
        # What the gateway's flows run their steps on: its sync clients, or async ones (AsyncDappBackend).
        self.clients: Any = chain.clients()
        # Outcomes of sent operations (and new users) the store refused to record: written (compare-and-set
        # or insert-if-absent, so at most once) at the start of this backend's next method.
        self._unrecorded = _Unrecorded(self.limits.unrecorded_kept)

    # Each kind of step, named once.

    def _rp(self, name: str, *args: Any, **kwargs: Any) -> Flow[Any]:
        return (yield Step(getattr(self.rp, name), args, kwargs))

    def _passkeys(self, name: str, *args: Any) -> Flow[Any]:
        return (yield Step(getattr(self.rp.store, name), args))

    def _sql(self, make: Callable[[], ops.Op[T]], *, read_only: bool = False) -> Flow[T]:
        result: T = yield Step(self._transaction, (make,), {"read_only": read_only})
        return result

    def _chain(self, name: str, *args: Any, **kwargs: Any) -> Flow[Any]:
        return (yield from getattr(self.chain, name)(self.clients, *args, **kwargs))

    def _balance(self, account: str) -> Flow[int]:
        # The account view's one chain read, on every sign-in: awaited on an async client where there is
        # one, so the thread pool (and the GIL hand-offs it costs the event loop) stays out of sign-ins.
        if self.eth is None:
            return (yield Step(self.chain.balance, (account,), blocking=True))  # type: ignore[no-any-return]
        balance: int = yield Step(self.eth.get_balance, (account,))
        return balance

    # --- sessions (the signed-in browser sessions of the web layer) ---

    @_flow
    def session_user(self, sid: str) -> Flow[str | None]:
        """The user the browser session ``sid`` is signed in as, if it is live."""
        return (yield from self._sql(partial(ops.session_user, sid, self.clock()), read_only=True))

    @_flow
    def open_session(self, sid: str, name: str) -> Flow[None]:
        """Bind the new browser session ``sid`` to ``name`` for ``Limits.session_ttl``."""
        yield from self._sql(partial(ops.open_session, sid, name, self.clock() + self.limits.session_ttl))

    @_flow
    def close_session(self, sid: str) -> Flow[None]:
        """Forget the browser session ``sid`` (and its registrations in progress)."""
        yield from self._sql(partial(ops.close_session, sid))

    # --- sign-up / sign-in ---

    @_flow
    def signup_options(self, session: str, name: str, *, client: str) -> Flow[dict[str, Any]]:
        """Registration options for a new user, remembered for this browser session.

        Raises:
            InvalidRequest: If the name is not 1-64 of ``A-Z a-z 0-9 _ . @ -``.
            AlreadyExists (``ACCOUNT_ALREADY_EXISTS``): If the name is taken.
            RateLimited: Too many options from this client, or too many registrations in progress.
        """
        _check_name(name)
        yield from self._charge_client(
            "options", client, self.limits.options_per_ip_rate, self.limits.options_per_ip_burst
        )
        if (yield from self._sql(partial(ops.user, name), read_only=True)) is not None:
            raise AccountAlreadyExists(f"user {name!r} already has an account; sign in instead")
        return (yield from self._registration(session, "signup", name, secrets.token_bytes(16), client))

    @_flow
    def signup(self, session: str, credential: Mapping[str, Any], *, client: str) -> Flow[User]:
        """Verify the session's new passkey, charge the funding limits, create and fund the account.

        Raises:
            NoRegistrationInProgress: This session started no sign-up (or it expired).
            WrongUser: The answer is for another registration than this session's.
            RateLimited: The funding limit of this client or of the whole server is spent (nothing funded).
            AlreadyExists (``ACCOUNT_ALREADY_EXISTS``): The name was taken meanwhile.
            VerificationError: The relying party's failed check (``AssertionRejected``
                (``ErrorCode.ORIGIN_MISMATCH``) ...).
            FailedAfterSend: The account was created but storing its user failed: the answer carries the
                creating transaction's hash; the passkey is kept and the user written at the next request
                (unless ``Limits.unrecorded_kept`` new users are held already).
        """
        registration = yield from self._take_registration(session, "signup")
        passkey = yield from self._verify_registration(credential, registration)
        try:
            # Spending comes last: a malformed or forged answer must not use up anyone's sign-ups.
            yield from self._charge_client(
                "fund",
                client,
                self.limits.funding_per_ip_rate,
                self.limits.funding_per_ip_burst,
                "sign-ups",
            )
            yield from self._charge(
                "fund:*", self.limits.funding_global_rate, self.limits.funding_global_burst, "sign-ups"
            )
            account, tx_hash = yield from self._chain("create_account", passkey)
        except BaseException:
            # No account, no passkey: otherwise the stored credential would be excluded from the next
            # attempt, and the authenticator holding it would refuse to create another one.
            yield from self._passkeys("remove_credential", passkey.credential_id)
            raise
        user = User(registration.user_name, registration.handle, account)
        store_user = partial(ops.add_user, user, passkey.credential_id, self.clock())
        try:
            added = yield from self._sql(store_user)
        except Exception as exc:
            # The account exists on chain and its passkey controls it: both are kept, and the user is
            # written at this backend's next request (like an unrecorded outcome); the passkey then signs in.
            if self._unrecorded.keep(store_user, settles=False):
                log.warning(
                    "a new user is not recorded yet (%s); kept for the next request", type(exc).__name__
                )
                then = (
                    "sign in with it in a moment (the user is recorded at the backend's next request once"
                    " its store answers)"
                )
            else:
                log.warning("a new user is not recorded (%s) and not kept: too many held", type(exc).__name__)
                then = "the backend holds too many unrecorded writes to keep its user: sign up again"
            raise _sent_failure(
                {"transactionHash": tx_hash},
                None,
                "included",
                f"storing its user failed; account {account} is created and its passkey kept; {then}",
            ) from exc
        if not added:
            yield from self._passkeys("remove_credential", passkey.credential_id)
            raise AccountAlreadyExists(f"user {user.name!r} signed up meanwhile")
        return user

    @_flow
    def login_options(self, *, client: str) -> Flow[tuple[dict[str, Any], bytes]]:
        """Sign-in options over a fresh random challenge; no credential ids (the passkey is discoverable).

        Returns:
            The options and their challenge (the caller keeps it in the session).
        """
        yield from self._charge_client(
            "options", client, self.limits.options_per_ip_rate, self.limits.options_per_ip_burst
        )
        challenge = secrets.token_bytes(32)
        # Empty allow-list: naming a user must not reveal their credential ids to whoever asks.
        options = yield from self._rp("authentication_options", challenge, discoverable=True)
        return options, challenge

    @_flow
    def login(
        self, credential: Mapping[str, Any], *, challenge: bytes, expected_user: str | None
    ) -> Flow[User]:
        """Verify a sign-in assertion over the session's challenge and name its user.

        Raises:
            VerificationError: The relying party's failed check (``AssertionRejected``
                (``ErrorCode.CHALLENGE_MISMATCH``) for an assertion over
                another challenge than the session's).
            UnknownUser: The passkey is valid but linked to no user here.
            WrongUser: A user name was typed and the passkey belongs to someone else.
        """
        verified = yield from self._rp("verify_authentication", credential, expected_challenge=challenge)
        owner = yield from self._sql(partial(ops.owner_of, verified.credential.credential_id), read_only=True)
        if owner is None:
            raise UnknownUser("this passkey is not linked to any account here")
        if expected_user is not None and owner.name != expected_user:
            raise WrongUser("this passkey belongs to another user than the one typed")
        return owner

    @_flow
    def user(self, name: str) -> Flow[User]:
        """The signed-in user's record.

        Raises:
            UnknownUser: If the user is gone.
        """
        user = yield from self._sql(partial(ops.user, name), read_only=True)
        if user is None:
            raise UnknownUser("the session's user no longer exists")
        return user

    @_flow
    def charge_read(self, name: str | None, *, client: str) -> Flow[None]:
        """Take a token for an account or session-list read: per user when signed in, else per address.

        Args:
            name: The signed-in user, or None.
            client: The client's address (IPv6 grouped by /64).

        Raises:
            RateLimited: Reads come faster than ``Limits.reads_rate``.
        """
        limits = self.limits
        if name is None:
            yield from self._charge_client("reads", client, limits.reads_rate, limits.reads_burst, "reads")
        else:
            yield from self._charge(f"reads:user:{name}", limits.reads_rate, limits.reads_burst, "reads")

    @_flow
    def account_view(self, name: str) -> Flow[dict[str, Any]]:
        """What the page shows a signed-in user: account, balance, passkeys, recent operations."""
        user = yield from _DappFlows.user.fn(self, name)
        balance = yield from self._balance(user.account)
        linked = yield from self._sql(partial(ops.passkeys, user.name), read_only=True)
        recent = yield from self._sql(
            partial(ops.operations, user.name, self.limits.finished_kept), read_only=True
        )
        return {
            "user": user.name,
            "account": user.account,
            "balanceWei": str(balance),
            "balanceEth": eth_text(balance),
            "passkeys": [{"id": b64url_encode(cid), "linkedAt": at} for cid, at in linked],
            "operations": [_operation_view(op) for op in recent],
        }

    # --- transactions ---

    @_flow
    def tx_options(self, name: str, *, to: str, value: int) -> Flow[dict[str, Any]]:
        """Prepare a transfer from the user's account; return WebAuthn options whose challenge is its hash.

        Raises:
            RateLimited: The user already has ``pending_per_user`` operations waiting, or asks for options
                faster than ``options_per_ip_rate`` (the same bucket size, per user).
            NoPendingTransaction: This exact transaction was already issued once (change it).
        """
        user = yield from _DappFlows.user.fn(self, name)
        # Each new transfer stores a challenge (kept until it expires, even when the pending cap then refuses
        # the operation) and costs chain work: limited per user, before either happens.
        yield from self._charge(
            f"options:user:{user.name}", self.limits.options_per_ip_rate, self.limits.options_per_ip_burst
        )
        passkey = yield from self._first_passkey(user)
        prepared = yield from self._chain(
            "prepare_call", user.account, to=to, value=value, data=b"", passkey=passkey
        )
        return (yield from self._ask_approval(user, prepared))

    @_flow
    def key_options(self, session: str, name: str, *, client: str) -> Flow[dict[str, Any]]:
        """Registration options for an additional passkey of the signed-in user, bound to this session."""
        user = yield from _DappFlows.user.fn(self, name)
        yield from self._charge_client(
            "options", client, self.limits.options_per_ip_rate, self.limits.options_per_ip_burst
        )
        # The relying party lists the user's passkeys in excludeCredentials: a device makes one per user.
        return (yield from self._registration(session, "addkey", user.name, user.handle, client))

    @_flow
    def key_link(self, session: str, name: str, credential: Mapping[str, Any]) -> Flow[dict[str, Any]]:
        """Verify the session user's new passkey; prepare the account call installing it, for approval.

        Raises:
            NoRegistrationInProgress: This session asked no add-a-passkey options.
            WrongUser: The registration was made for another user than the session's.
        """
        user = yield from _DappFlows.user.fn(self, name)
        registration = yield from self._take_registration(session, "addkey")
        if registration.user_name != user.name or registration.handle != user.handle:
            raise WrongUser("this registration was started for another user")
        passkey = yield from self._verify_registration(credential, registration)
        try:
            to, data = self.chain.link_key_call(user.account, passkey)
            signer = yield from self._first_passkey(user)
            prepared = yield from self._chain(
                "prepare_call", user.account, to=to, value=0, data=data, passkey=signer
            )
            return (yield from self._ask_approval(user, prepared, links=passkey.credential_id))
        except BaseException:
            yield from self._passkeys("remove_credential", passkey.credential_id)
            raise

    @_flow
    def tx_submit(self, name: str, op_id: str, credential: Mapping[str, Any]) -> Flow[dict[str, Any]]:
        """Verify the approval of the user's operation ``op_id`` and submit it (at most once).

        Raises:
            NoPendingTransaction: No such operation (404) or it was already signed (409).
            WrongUser: It is another user's operation, or another user's passkey signed.
            OperationExpired: It waited too long for the signature (410); it is purged.
            VerificationError: The relying party's failed check, or the validator rule that rejects it.
            AfterSendError: The operation left and then reverted or its outcome is unknown (the SDK's, with
                its hashes), or ``FailedAfterSend``: it was included but recording that failed.
        """
        yield from self._claim(op_id, name, self.clock())
        op: PendingOperation | None = yield from self._sql(partial(ops.operation, op_id), read_only=True)
        assert op is not None  # claimed just now
        try:
            # The assertion must answer exactly this operation's hash; verifying burns that challenge.
            verified = yield from self._rp(
                "verify_authentication", credential, expected_challenge=op.challenge
            )
            owner = yield from self._sql(
                partial(ops.owner_of, verified.credential.credential_id), read_only=True
            )
            if owner is None or owner.name != name:
                raise WrongUser("the passkey that signed belongs to another user")
        except BaseException:
            # Not signed after all: the user may still approve it.
            yield from self._sql(partial(ops.release_operation, op_id))
            raise
        prepared = _prepared(op)
        try:
            result: dict[str, Any] = yield from self._chain(
                "submit", prepared, verified.assertion, verified.credential
            )
        except AfterSendError as exc:
            # It left: reverted on chain (its nonce is used), or its outcome unknown. The error carries the
            # hashes; the operation stays claimed if even this cannot be recorded now.
            reverted = isinstance(exc, TransactionReverted | UserOperationReverted)
            sent_hash = exc.tx_hash or exc.user_op_hash
            yield from self._record(
                partial(
                    ops.finish_operation,
                    op_id,
                    "failed" if reverted else "sent",
                    None if sent_hash is None else hex_encode(sent_hash),
                    f"{type(exc).__name__}: {exc}",
                )
            )
            raise
        except Exception as exc:
            # Refused before anything was sent.
            error = f"{type(exc).__name__}: {exc}"
            yield from self._record(partial(ops.finish_operation, op_id, "failed", None, error))
            raise
        tx_hash = result.get("transactionHash")
        link = None if op.links is None else (name, op.links, self.clock())
        failure = yield from self._record(
            partial(ops.finish_operation, op_id, "included", tx_hash, None, link)
        )
        if failure is not None:
            cause, kept = failure
            later = (
                "at the backend's next request once its store answers"
                if kept
                else "from the chain by a later housekeeping round"
            )
            raise _sent_failure(
                result,
                op_id,
                "included",
                f"recording its outcome failed; it is not signed or sent again, and is recorded {later}",
            ) from cause
        if op.links is not None:
            result["message"] = "New passkey linked to the account."
        result["opId"] = op_id
        result["status"] = "included"
        return result

    @_flow
    def settle(self) -> Flow[int]:
        """Read from the chain the outcome of a few operations left ``signed`` or ``sent`` (their worker
        stopped before recording it) and record it; :meth:`purge` runs it first.

        At most ``Limits.settle_batch`` operations, each claimed in the store for ``settle_grace`` seconds
        (another worker's round skips it); an undecided one, or one whose read failed, is read again later.

        Returns:
            How many were recorded ``included`` or ``failed``.
        """
        now = self.clock()
        batch = self.limits.settle_batch
        claimed = yield from self._sql(partial(ops.claim_unsettled, now, self.limits.settle_grace, batch))
        settled = 0
        for op in claimed:
            try:
                found = yield from self._chain("outcome", _prepared(op), op.tx_hash)
            except Exception as exc:  # noqa: BLE001 - the node may be down: read again at a later round
                log.warning("reading an operation's outcome failed (%s: %r)", type(exc).__name__, str(exc))
                continue
            if found is None:
                continue
            status, tx_hash, error = found
            link = None if op.links is None or status != "included" else (op.user, op.links, self.clock())
            if (yield from self._sql(partial(ops.finish_operation, op.op_id, status, tx_hash, error, link))):
                settled += 1
        return settled

    @_flow
    def purge(self) -> Flow[None]:
        """Settle a few unrecorded outcomes (:meth:`settle`), then drop expired state and old finished
        operations; run now and then (the web layer calls it every few hundred requests)."""
        yield from _DappFlows.settle.fn(self)
        now = self.clock()
        orphans = yield from self._sql(partial(ops.purge, now, self.limits.finished_kept))
        for credential_id in orphans:
            yield from self._passkeys("remove_credential", credential_id)
        # Used and expired challenges are kept an hour (not the default day): a replay is refused either way.
        yield Step(self.rp.store.purge_challenges, (), {"now": now, "keep_used_for": 3600.0})

    # --- helpers (flows entered with ``yield from``; the session-key service runs them too) ---

    def _record(self, write: Callable[[], ops.Op[bool]]) -> Flow[tuple[Exception, bool] | None]:
        """Write an operation's outcome; if the store fails, hold the write for the next request if there is
        room (else the operation stays ``signed`` or ``sent`` and :meth:`settle` reads it from the chain).

        Returns:
            None once written, else the store's error and whether the write is held (the caller answers
            with what was sent).
        """
        try:
            yield from self._sql(write)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the outcome must not be lost
            kept = self._unrecorded.keep(write, settles=True)
            log.warning(
                "an operation's outcome is not recorded yet (%s); %s",
                exc,
                "kept for the next request" if kept else "left to the chain reads of settle",
            )
            return exc, kept
        return None

    def _reconciled(self, flow: Flow[T]) -> Flow[T]:
        # Writes the store refused earlier go in first; each is a compare-and-set or an insert-if-absent (a
        # second one changes nothing). While the store still fails they wait for the next request.
        while (held := self._unrecorded.take()) is not None:
            write, settles = held
            try:
                yield from self._sql(write)
            except Exception:  # noqa: BLE001 - still failing: held again, and this request goes on
                self._unrecorded.keep(write, settles=settles, first=True)
                break
        return (yield from flow)

    def _first_passkey(self, user: User) -> Flow[PasskeyCredential]:
        # Read from the store, not remembered by the process that created the account: any worker prepares.
        linked = yield from self._sql(partial(ops.passkeys, user.name), read_only=True)
        if not linked:
            raise UnknownUser("the session's user has no passkey linked")
        passkey: PasskeyCredential = yield from self._passkeys("get_credential", linked[0][0])
        return passkey

    def _charge(self, key: str, rate: float, burst: float, what: str = "requests") -> Flow[None]:
        wait = yield from self._sql(partial(ops.take_token, key, rate, burst, self.clock()))
        if wait > 0:
            scope = "in total" if key.endswith(":*") else "from this address"
            if ":user:" in key:
                scope = "for this user"
            raise RateLimited(f"too many {what} {scope}; retry in {wait:.0f} s", retry_after=wait)

    def _charge_client(
        self, bucket: str, client: str, rate: float, burst: float, what: str = "requests"
    ) -> Flow[None]:
        # Every per-address bucket is keyed here, so none misses the IPv6 grouping.
        yield from self._charge(f"{bucket}:{_address_group(client)}", rate, burst, what)

    def _registration(
        self, session: str, purpose: RegistrationPurpose, name: str, handle: bytes, client: str
    ) -> Flow[dict[str, Any]]:
        burst = self.limits.registrations_per_ip_burst
        yield from self._charge_client(
            "registrations", client, burst / self.limits.registration_ttl, burst, "registrations"
        )
        options = yield from self._rp("registration_options", user_name=name, user_handle=handle)
        challenge = b64url_decode(str(options["challenge"]), field="challenge")
        now = self.clock()
        pending = Registration(session, purpose, name, handle, challenge, now + self.limits.registration_ttl)
        if not (yield from self._sql(partial(ops.put_registration, pending, self.limits.registrations, now))):
            raise RateLimited("too many registrations in progress; retry in a minute", retry_after=60)
        return options  # type: ignore[no-any-return]

    def _take_registration(self, session: str, purpose: RegistrationPurpose) -> Flow[Registration]:
        registration = yield from self._sql(partial(ops.take_registration, session, purpose, self.clock()))
        if registration is None:
            raise NoRegistrationInProgress("this session has no registration in progress; ask for options")
        return registration

    def _verify_registration(
        self, credential: Mapping[str, Any], registration: Registration
    ) -> Flow[PasskeyCredential]:
        # The answer must be for the registration this session started (the relying party then binds it to
        # the session's user: a challenge issued for another user is refused there).
        answered = RegistrationResponse.from_json(credential).client_data.challenge
        if answered != registration.challenge:
            raise WrongUser("this registration answer is for another registration than this session's")
        passkey: PasskeyCredential = yield from self._rp(
            "verify_registration", credential, user_handle=registration.handle
        )
        return passkey

    def _claim(self, op_id: str, name: str, now: float) -> Flow[None]:
        outcome = yield from self._sql(partial(ops.claim_operation, op_id, name, now))
        if outcome == "claimed":
            return
        if outcome == "unknown":
            raise NoPendingTransaction("no operation with this id", reason="unknown")
        if outcome == "other-user":
            raise WrongUser("this operation was prepared for another user")
        if outcome == "used":
            raise NoPendingTransaction("this operation was already signed", reason="used")
        yield from _DappFlows.purge.fn(self)
        raise OperationExpired("this operation waited too long for its signature; prepare it again")

    def _ask_approval(
        self, user: User, prepared: PreparedCall, *, links: bytes | None = None
    ) -> Flow[dict[str, Any]]:
        now = self.clock()
        earlier = yield from self._sql(partial(ops.open_operation, user.name, prepared.challenge, now))
        if earlier is not None and earlier.links == links:
            # The same transaction again (same nonce, same hash): its challenge is still open.
            return _approval_view(earlier)
        linked = yield from self._sql(partial(ops.passkeys, user.name), read_only=True)
        try:
            options = yield from self._rp(
                "authentication_options", prepared.challenge, credential_ids=[cid for cid, _ in linked]
            )
        except AlreadyExists:
            raise NoPendingTransaction(
                "this exact transaction was already issued once; change it or send another first",
                reason="reissued",
            ) from None
        summary = dict(prepared.summary)
        summary["valueEth"] = eth_text(prepared.value)
        if links is not None:
            summary["linksPasskey"] = b64url_encode(links)
        op = PendingOperation(
            op_id=secrets.token_urlsafe(12),
            user=user.name,
            challenge=prepared.challenge,
            payload={
                "account": prepared.account,
                "to": prepared.to,
                "value": str(prepared.value),
                "data": prepared.data.hex(),
                "gateway": dict(prepared.payload),
            },
            summary=summary,
            options=options,
            links=links,
            status="pending",
            expires_at=now + min(self.limits.operation_ttl, self.rp.challenge_ttl),
        )
        added = yield from self._sql(partial(ops.add_operation, op, self.limits.pending_per_user, now))
        if added == "reissued":
            raise NoPendingTransaction(
                "this exact transaction is already signed or sent; wait for it, or send another",
                reason="reissued",
            )
        if added == "full":
            raise RateLimited(
                f"{self.limits.pending_per_user} operations already wait for a signature; approve or let them"
                " expire first",
                retry_after=self.limits.operation_ttl,
            )
        return _approval_view(op)


class DappBackend(_DappFlows):
    """The backend on the sync relying party and store: each method blocks until done (thread-safe).

    Args:
        rp: The WebAuthn relying party; its store keeps the passkeys and the single-use challenges.
        chain: The account gateway.
        store: The example's own tables, in the relying party's database.
        limits: Rate limits, caps and lifetimes.
        clock: Time source (tests pass a fake one).
    """

    def __init__(
        self,
        rp: RelyingParty,
        chain: AccountGateway,
        store: SqlAppStore,
        *,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(rp, chain, store.sql.transaction, limits, clock)
        self.store = store

    def run(self, flow: Flow[T]) -> T:
        """Run a backend flow, each step a blocking call, and return its value."""
        done, out = _resume(flow, None, None)
        while not done:
            try:
                value, error = out.call(*out.args, **out.kwargs), None
            except BaseException as exc:  # noqa: BLE001 - thrown into the flow, which re-raises it
                value, error = None, exc
            done, out = _resume(flow, value, error)
        return out  # type: ignore[no-any-return]


class AsyncDappBackend(_DappFlows):
    """The backend on :class:`~sso_signer.webauthn.AsyncRelyingParty` and an async store: each method a
    coroutine whose ceremony, SQL and chain steps are awaited on the event loop; only ``blocking`` steps
    (the Era gateway's stand-in work) run in the thread pool.

    Args:
        rp: The async relying party, on ``store``'s database.
        chain: The account gateway (shared with a :class:`DappBackend`).
        store: The async SDK store (:func:`~sso_signer.webauthn.open_async_store`) holding the example's
            tables (created by :class:`SqlAppStore` first).
        limits: Rate limits, caps and lifetimes.
        clock: Time source.
        eth: An async client of the gateway's node: the account view reads the balance with it; None: the
            gateway reads it, in the thread pool.
        clients: The gateway's async clients (from ``chain.async_clients()``, opened in this event loop)
            its flows' steps are awaited on.
    """

    def __init__(
        self,
        rp: AsyncRelyingParty,
        chain: AccountGateway,
        store: AsyncSQLiteStore | AsyncPostgresStore,
        *,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        eth: AsyncEthClient | None = None,
        clients: Any,
    ) -> None:
        super().__init__(rp, chain, store.transaction, limits, clock)
        self.sql = store
        self.eth = eth
        self.clients = clients

    @classmethod
    def beside(
        cls,
        backend: DappBackend,
        store: AsyncSQLiteStore | AsyncPostgresStore,
        *,
        eth: AsyncEthClient | None = None,
        clients: Any,
    ) -> AsyncDappBackend:
        """The async twin of ``backend``: its relying party's settings, chain, limits and clock, on ``store``
        (the same database, opened in the event loop that will await it), its gateway's steps on
        ``clients`` (``backend.chain.async_clients()``, opened in that loop too).

        The example's relying parties have no attestation roots; a backend with some would pass them too.
        """
        rp = backend.rp
        twin = AsyncRelyingParty(
            rp_id=rp.rp_id,
            rp_name=rp.rp_name,
            origins=rp.origins,
            store=store,
            challenge_ttl=rp.challenge_ttl,
            attestation=rp.attestation,
            require_registered_origin=rp.require_registered_origin,
        )
        return cls(
            twin, backend.chain, store, limits=backend.limits, clock=backend.clock, eth=eth, clients=clients
        )

    async def run(self, flow: Flow[T]) -> T:
        """Run a backend flow: its steps awaited, ``blocking`` ones in the thread pool."""
        done, out = _resume(flow, None, None)
        while not done:
            try:
                if out.blocking:
                    value, error = await run_in_threadpool(out.call, *out.args, **out.kwargs), None
                else:
                    value, error = await out.call(*out.args, **out.kwargs), None
            except BaseException as exc:  # noqa: BLE001 - thrown into the flow, which re-raises it
                value, error = None, exc
            done, out = _resume(flow, value, error)
        return out  # type: ignore[no-any-return]


def _sent_failure(result: Mapping[str, Any], op_id: str | None, status: str, what: str) -> FailedAfterSend:
    """The error of a step that failed after the gateway sent an operation, with the hashes of ``result``."""

    def raw(key: str) -> bytes | None:
        value = result.get(key)
        return None if not isinstance(value, str) else hex_decode(value)

    shown = result.get("userOpHash") or result.get("transactionHash")
    return FailedAfterSend(
        f"the operation was sent ({shown}, {status}) but {what}",
        op_id=op_id,
        status=status,
        tx_hash=raw("transactionHash"),
        user_op_hash=raw("userOpHash"),
        raw_transaction=raw("rawTransaction"),
    )


def _prepared(op: PendingOperation) -> PreparedCall:
    payload = op.payload
    return PreparedCall(
        payload["account"],
        payload["to"],
        int(payload["value"]),
        bytes.fromhex(payload["data"]),
        op.challenge,
        op.summary,
        payload["gateway"],
    )


def _check_name(name: str) -> None:
    if not USER_NAME.match(name):
        raise InvalidRequest("user: expected 1-64 characters of A-Z a-z 0-9 _ . @ -", field="user")


def _approval_view(op: PendingOperation) -> dict[str, Any]:
    return {"opId": op.op_id, "options": op.options, "transaction": op.summary, "expiresAt": op.expires_at}


def _operation_view(op: PendingOperation) -> dict[str, Any]:
    return {
        "opId": op.op_id,
        "status": op.status,
        "to": op.summary.get("to"),
        "valueEth": op.summary.get("valueEth"),
        "hash": hex_encode(op.challenge),
        "transactionHash": op.tx_hash,
        "linksPasskey": op.summary.get("linksPasskey"),
        "error": op.error,
        "expiresAt": op.expires_at,
    }


def decode_challenge(options: Mapping[str, Any]) -> bytes:
    """The raw challenge bytes of a WebAuthn options JSON object (tests and scripts use it)."""
    return b64url_decode(str(options["challenge"]), field="challenge")
