"""A small ERC-7677 sponsor service: a backend's paymaster web service for the SDK's ``SponsorPaymaster``.

:func:`sponsor_app` builds an ASGI application (Starlette, from the ``sponsor`` extra: ``pip install
"sso-signer[sponsor]"``) that answers ``pm_getPaymasterStubData`` and ``pm_getPaymasterData`` over JSON-RPC
for one paymaster, chain and EntryPoint. It fails closed: it sponsors the senders of an allow-list
(``senders=``) and the operations a :class:`SponsorshipPolicy` allows, and anyone only when told so
explicitly (``allow_any_sender=True``, for local development). A :class:`SponsorBudget` bounds what each
sender spends per period, counted atomically in a store its workers share. For an operation it sponsors it
signs the ``SponsorPaymaster`` approval (EIP-712 ``Sponsorship``
over every field of the operation but its signatures, and a validity window) with the sponsor key. A
refusal is the JSON-RPC error :data:`SPONSORSHIP_REFUSED_CODE` with the reason, and the rule in its
``data`` (``{"rule": "sponsor_budget_exceeded"}``), which :class:`~sso_signer.erc4337.PaymasterClient` raises
as :class:`~sso_signer.exceptions.SponsorshipRefused` with that rule.

Request bodies are bounded (``max_body``) and parsed with the SDK's bounded JSON reader; every malformed
request is a JSON-RPC error, never an exception out of the app. Serve it on a loopback address unless a
proxy in front of it authenticates callers: anyone who can reach it can spend the paymaster's deposit within
the policy and the budget. ``LocalErc4337Stack(sponsor=True)`` deploys the paymaster, funds it and serves
this app.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils.crypto import keccak

from sso_signer._json import JsonLimits, parse_json
from sso_signer.erc4337 import ENTRY_POINT_V08, UserOperation
from sso_signer.erc4337._paymaster import (
    DATA_METHOD,
    SPONSORSHIP_REFUSED_CODE,
    STUB_METHOD,
    SponsorshipPolicy,
    check_policy,
)
from sso_signer.erc4337._user_operation import (
    EIP712_DOMAIN_TYPE,
    _check_address,
    eip712_struct_hash,
    pack_uint128_pair,
)
from sso_signer.exceptions import (
    ConfigurationError,
    ErrorCode,
    InvalidInputError,
    InvalidRpcParams,
    SponsorshipRefused,
    SsoSignerError,
    StoreUnavailable,
)
from sso_signer.webauthn import PostgresStore, SQLiteStore, SqlStatement

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["SponsorBudget", "sponsor_app"]

log = logging.getLogger("sso_signer.sponsor")

DEFAULT_MAX_BODY: Final = 64 * 1024
DEFAULT_VALIDITY: Final = 600
_MAX_BATCH: Final = 8
_MAX_DEPTH: Final = 16  # a UserOperation and a context object nest a few levels
_INVALID_REQUEST: Final = -32600
_METHOD_NOT_FOUND: Final = -32601
_INVALID_PARAMS: Final = -32602
_INTERNAL_ERROR: Final = -32603
_PARSE_ERROR: Final = -32700

_SPONSORSHIP_TYPE: Final = (
    b"Sponsorship(address sender,uint256 nonce,bytes32 initCodeHash,bytes32 callDataHash,"
    b"bytes32 accountGasLimits,bytes32 paymasterGasLimits,uint256 preVerificationGas,bytes32 gasFees,"
    b"uint48 validUntil,uint48 validAfter)"
)
# A stub approval as long as a real one and as rich in non-zero bytes (the bundler prices calldata from it),
# with a low s, so validation takes the real path (ecrecover runs) and returns "invalid" instead of reverting.
_STUB_SIGNATURE: Final = b"\x01" * 64 + b"\x1b"


def sponsorship_digest(
    op: UserOperation, *, paymaster: str, chain_id: int, valid_until: int, valid_after: int
) -> bytes:
    """The EIP-712 digest ``SponsorPaymaster.sponsorshipHash`` computes for ``op`` and the window.

    Args:
        op: The operation with its final gas limits and paymaster gas limits.
        paymaster: The ``SponsorPaymaster`` (the EIP-712 verifying contract).
        chain_id: The chain.
        valid_until: Last second the approval holds (0: no end).
        valid_after: First second it holds.

    Returns:
        The 32-byte digest the sponsor key signs.
    """
    domain = eip712_struct_hash(EIP712_DOMAIN_TYPE, b"SsoSponsorPaymaster", b"1", chain_id, paymaster)
    struct = eip712_struct_hash(
        _SPONSORSHIP_TYPE,
        op.sender,
        op.nonce,
        keccak(op.init_code),
        keccak(op.call_data),
        op.account_gas_limits,
        pack_uint128_pair(op.paymaster_verification_gas_limit, op.paymaster_post_op_gas_limit),
        op.pre_verification_gas,
        op.gas_fees,
        valid_until,
        valid_after,
    )
    return keccak(b"\x19\x01" + domain + struct)


class _RpcFailure(Exception):
    """A JSON-RPC error answer (never leaves this module)."""

    def __init__(self, code: int, message: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _refusal(rule: ErrorCode, reason: str, **data: Any) -> _RpcFailure:
    return _RpcFailure(SPONSORSHIP_REFUSED_CODE, reason, {"rule": rule.value, **data})


# The counters are signed 64-bit columns: a count plus one op's cost stays below.
_MAX_COUNTER: Final = 1 << 62


@dataclass(frozen=True, slots=True)
class SponsorBudget:
    """What each sender may spend of the paymaster's deposit per period, counted in a shared store.

    A sender's period is a fixed window of ``period`` seconds (``floor(now / period)``): in each one it gets
    at most ``max_operations`` approvals and at most ``max_wei`` of their ``maxCost``
    (``op.required_prefund``: every gas limit times ``maxFeePerGas``, the most the paymaster can pay). The
    count is one compare-and-set ``UPDATE ... WHERE used + cost <= cap`` in the store, so workers and
    processes sharing one SQLite file or PostgreSQL database never approve past the caps together.

    An approval is counted when it is signed (``pm_getPaymasterData``, or the stub when there is no sponsor
    key); an approval whose operation is never sent keeps its place until the period ends. The stub request
    only checks that some budget is left.

    Attributes:
        store: A passkey store (:func:`~sso_signer.webauthn.open_store`: ``sqlite:///path`` or
            ``postgresql://...``) in which the service keeps its table ``sso_sponsor_budget``;
            ``sqlite://:memory:`` only for one process.
        period: Seconds of a budget period (3600: per hour, 86400: per day).
        max_operations: Approvals per sender and period (``None``: not counted).
        max_wei: Wei of ``maxCost`` per sender and period (``None``: not counted).
    """

    store: SQLiteStore | PostgresStore
    period: int = 86_400
    max_operations: int | None = None
    max_wei: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.period, bool) or not isinstance(self.period, int) or not 0 < self.period < 1 << 40:
            raise InvalidRpcParams(f"period: expected a positive number of seconds, got {self.period!r}")
        for name in ("max_operations", "max_wei"):
            cap = getattr(self, name)
            if cap is not None and (
                isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap < _MAX_COUNTER
            ):
                raise InvalidRpcParams(f"{name}: expected None or an int in 0..2**62-1, got {cap!r}")
        if self.max_operations is None and self.max_wei is None:
            raise InvalidRpcParams("a SponsorBudget bounds max_operations, max_wei or both")
        # A sync store: the service counts in its worker threads (an async store's coroutine would be truthy).
        if not isinstance(self.store, SQLiteStore | PostgresStore):
            raise InvalidRpcParams(
                f"store: expected a sync SQLiteStore or PostgresStore, got {type(self.store).__name__}"
            )


_Rows = list[tuple[Any, ...]]


def _create_budget_table() -> Generator[SqlStatement, _Rows, None]:
    yield SqlStatement(
        "CREATE TABLE IF NOT EXISTS sso_sponsor_budget (scope TEXT NOT NULL, sender TEXT NOT NULL, "
        "period_start BIGINT NOT NULL, operations BIGINT NOT NULL, wei BIGINT NOT NULL, "
        "PRIMARY KEY (scope, sender, period_start))"
    )


def _budget_table_exists() -> Generator[SqlStatement, _Rows, bool]:
    yield SqlStatement("SELECT 1 FROM sso_sponsor_budget WHERE 1 = 0")
    return True


def _ensure_budget_table(store: SQLiteStore | PostgresStore) -> None:
    """Create the budget table; workers starting together may race to do it."""
    try:
        store.transaction(_create_budget_table)
    except StoreUnavailable:
        # PostgreSQL's CREATE TABLE IF NOT EXISTS is not atomic: of two racing workers one fails on the
        # catalog's unique key. The table then exists; if it does not, the first error stands.
        try:
            store.transaction(_budget_table_exists, read_only=True)
        except SsoSignerError:
            pass
        else:
            return
        raise


def _reserve(
    key: dict[str, Any], cost: int, max_ops: int, max_wei: int
) -> Generator[SqlStatement, _Rows, bool]:
    """Count one approval of ``cost`` wei if it fits both caps: the compare-and-set is the ``UPDATE``."""
    # The sender's past periods are done with: dropping them keeps the table one row per active sender.
    yield SqlStatement(
        "DELETE FROM sso_sponsor_budget WHERE scope = :scope AND sender = :sender AND period_start < :start",
        key,
    )
    yield SqlStatement(
        "INSERT INTO sso_sponsor_budget (scope, sender, period_start, operations, wei) "
        "VALUES (:scope, :sender, :start, 0, 0) ON CONFLICT DO NOTHING",
        key,
    )
    rows = yield SqlStatement(
        "UPDATE sso_sponsor_budget SET operations = operations + 1, wei = wei + :cost "
        "WHERE scope = :scope AND sender = :sender AND period_start = :start "
        "AND operations + 1 <= :max_ops AND wei + :cost <= :max_wei RETURNING operations",
        {**key, "cost": cost, "max_ops": max_ops, "max_wei": max_wei},
    )
    return bool(rows)


def _has_room(key: dict[str, Any], max_ops: int, max_wei: int) -> Generator[SqlStatement, _Rows, bool]:
    rows = yield SqlStatement(
        "SELECT operations, wei FROM sso_sponsor_budget "
        "WHERE scope = :scope AND sender = :sender AND period_start = :start",
        key,
    )
    return not rows or (int(rows[0][0]) + 1 <= max_ops and int(rows[0][1]) + 1 <= max_wei)


@dataclass(frozen=True, slots=True)
class _Sponsor:
    """The service's logic, without HTTP: one JSON-RPC request in, one answer out."""

    paymaster: str
    signer: LocalAccount | None
    chain_id: int
    entry_point: str
    policy: SponsorshipPolicy | None
    validity: int
    sponsor_name: str | None
    clock: Callable[[], float]
    senders: frozenset[str] | None = None  # lowercase; None: any sender the policy allows
    budget: SponsorBudget | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "paymaster", _check_address(self.paymaster, "paymaster"))
        object.__setattr__(self, "entry_point", _check_address(self.entry_point, "entry_point"))
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id <= 0:
            raise InvalidRpcParams(f"chain_id: expected a positive int, got {self.chain_id!r}")
        validity = self.validity
        if isinstance(validity, bool) or not isinstance(validity, int) or not 0 < validity < 1 << 40:
            raise InvalidRpcParams(f"validity: expected a positive number of seconds, got {validity!r}")

    def handle(self, request: object) -> dict[str, Any] | None:
        """The answer object to one JSON-RPC request object (``None`` for a notification)."""
        if not isinstance(request, Mapping):
            return _error(None, _INVALID_REQUEST, "a request is a JSON object")
        request_id = request.get("id")
        if request_id is not None and (
            isinstance(request_id, bool)
            or not isinstance(request_id, str | int)
            or len(str(request_id)) > 100
        ):
            return _error(None, _INVALID_REQUEST, "id: expected a string or an integer")
        try:
            if request.get("jsonrpc") != "2.0":
                raise _RpcFailure(_INVALID_REQUEST, 'jsonrpc: expected "2.0"')
            method = request.get("method")
            if method not in (STUB_METHOD, DATA_METHOD):
                raise _RpcFailure(_METHOD_NOT_FOUND, f"method not found: {str(method)[:60]!r}")
            result = self._answer(method == DATA_METHOD, request.get("params"))
        except _RpcFailure as failure:
            if "id" not in request:
                return None
            return _error(request_id, failure.code, failure.message, failure.data)
        return None if "id" not in request else {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _answer(self, final: bool, params: object) -> dict[str, Any]:
        op, context = self._params(params)
        if self.senders is not None and op.sender.lower() not in self.senders:
            raise _refusal(ErrorCode.SPONSOR_SENDER_NOT_ALLOWED, "this sender is not sponsored")
        try:
            check_policy(self.policy, op, self.chain_id, context)
        except SponsorshipRefused as exc:
            raise _refusal(exc.rule, exc.reason or str(exc)) from exc
        except Exception as exc:
            log.exception("sponsorship policy failed on an operation of %s", op.sender)
            raise _RpcFailure(_INTERNAL_ERROR, "the sponsorship policy failed") from exc
        if final and op.paymaster != self.paymaster:
            raise _RpcFailure(_INVALID_PARAMS, f"userOp.paymaster: expected {self.paymaster}")
        if self.budget is not None:
            # Counted when approved: the final request, or the stub when it is final (no sponsor key).
            self._spend(op, counted=final or self.signer is None)
        result: dict[str, Any] = {"paymaster": self.paymaster}
        if self.signer is None:
            # A paymaster that needs no approval: the stub is the final answer. Its postOp cost is not known
            # here, so the bundler's estimate sets that limit.
            result.update(paymasterData="0x", isFinal=True)
        else:
            valid_until = int(self.clock()) + self.validity
            window = valid_until.to_bytes(6, "big") + bytes(6)  # validAfter 0: valid at once
            if final:
                digest = sponsorship_digest(
                    op,
                    paymaster=self.paymaster,
                    chain_id=self.chain_id,
                    valid_until=valid_until,
                    valid_after=0,
                )
                signature = bytes(self.signer.unsafe_sign_hash(Hash32(digest)).signature)
            else:
                signature = _STUB_SIGNATURE
            # No postOp: the paymaster returns an empty context, so its postOp gas is 0 (the service pays).
            result.update(paymasterData="0x" + (window + signature).hex(), paymasterPostOpGasLimit=hex(0))
            if not final:
                result["isFinal"] = False
        if self.sponsor_name is not None and not final:
            result["sponsor"] = {"name": self.sponsor_name}
        return result

    def _spend(self, op: UserOperation, *, counted: bool) -> None:
        budget = self.budget
        assert budget is not None
        start = int(self.clock()) // budget.period * budget.period
        key = {
            "scope": f"{self.chain_id}:{self.paymaster.lower()}",
            "sender": op.sender.lower(),
            "start": start,
        }
        max_ops = _MAX_COUNTER if budget.max_operations is None else budget.max_operations
        max_wei = _MAX_COUNTER if budget.max_wei is None else budget.max_wei
        # Without a wei cap the cost is not counted, so an absurd maxFeePerGas cannot overflow the column.
        cost = 0 if budget.max_wei is None else op.required_prefund
        try:
            if cost > max_wei:
                fits = False
            elif counted:
                fits = budget.store.transaction(lambda: _reserve(key, cost, max_ops, max_wei))
            else:
                fits = budget.store.transaction(lambda: _has_room(key, max_ops, max_wei), read_only=True)
        except SsoSignerError as exc:
            log.error("the sponsorship budget store failed: %s", exc)
            raise _RpcFailure(_INTERNAL_ERROR, "the sponsorship budget store failed") from exc
        if not fits:
            limits = [f"{budget.max_operations} operations"] if budget.max_operations is not None else []
            limits += [f"{budget.max_wei} wei of maxCost"] if budget.max_wei is not None else []
            raise _refusal(
                ErrorCode.SPONSOR_BUDGET_EXCEEDED,
                f"this sender's sponsorship budget is used up (at most {' and '.join(limits)} "
                f"per {budget.period} s)",
                periodEnds=start + budget.period,
            )

    def _params(self, params: object) -> tuple[UserOperation, Mapping[str, Any]]:
        if not isinstance(params, list) or not 3 <= len(params) <= 4:
            raise _RpcFailure(_INVALID_PARAMS, "params: expected [userOp, entryPoint, chainId, context]")
        raw_op, entry_point, chain_id = params[:3]
        context = params[3] if len(params) == 4 and params[3] is not None else {}
        if not isinstance(context, Mapping):
            raise _RpcFailure(_INVALID_PARAMS, "context: expected an object")
        if not isinstance(entry_point, str) or entry_point.lower() != self.entry_point.lower():
            raise _RpcFailure(_INVALID_PARAMS, f"entryPoint: this service serves {self.entry_point} only")
        if chain_id != hex(self.chain_id) and chain_id != self.chain_id:
            raise _RpcFailure(
                _INVALID_PARAMS, f"chainId: this service serves chain {hex(self.chain_id)} only"
            )
        if not isinstance(raw_op, Mapping):
            raise _RpcFailure(_INVALID_PARAMS, "userOp: expected an object")
        try:
            op = UserOperation.from_rpc(raw_op)
        except InvalidInputError as exc:
            raise _RpcFailure(_INVALID_PARAMS, f"userOp: {str(exc)[:200]}") from exc
        return op, context


def _error(
    request_id: object, code: int, message: str, data: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = dict(data)
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _require_extra(*modules: str) -> None:
    """Raise the install hint when the ``sponsor`` extra's modules are missing (before any work is done).

    Raises:
        ConfigurationError (``CONFIGURATION``): If one of ``modules`` cannot be imported.
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigurationError(
            f"the sponsor service needs the sponsor extra ({', '.join(missing)} not installed): "
            'pip install "sso-signer[sponsor]"',
            rule=ErrorCode.CONFIGURATION,
        )


def sponsor_app(
    *,
    paymaster: str,
    signer: LocalAccount | None,
    chain_id: int,
    entry_point: str = ENTRY_POINT_V08,
    policy: SponsorshipPolicy | None = None,
    senders: Iterable[str] | None = None,
    budget: SponsorBudget | None = None,
    allow_any_sender: bool = False,
    validity: int = DEFAULT_VALIDITY,
    sponsor_name: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """An ASGI app answering ERC-7677 JSON-RPC (``POST /``) for one ``SponsorPaymaster``.

    Args:
        paymaster: The ``SponsorPaymaster`` address.
        signer: The sponsor key (the paymaster's ``SIGNER``); ``None`` for a paymaster that needs no
            approval (then the stub is final: ``isFinal``).
        chain_id: The chain it sponsors on (requests for other chains are refused).
        entry_point: The EntryPoint (requests naming another are refused).
        policy: Decides which operations are sponsored.
        senders: The only senders sponsored (an allow-list; empty: nobody). Counterfactual accounts can
            be listed before they exist (their address is known).
        budget: Per-sender caps per period (operations, wei), counted in a store the workers share.
        allow_any_sender: Sponsor any operation of any sender when neither ``policy`` nor ``senders`` is
            given: the paymaster's deposit is then open to anyone who reaches the service. For local
            development (the local stack sets it); without it, a service with neither refuses to start.
        validity: Seconds an approval stays valid.
        sponsor_name: The ``sponsor.name`` the stub answers carry, if any.
        max_body: Largest request body accepted (bytes); larger ones get HTTP 413.
        clock: Wall clock in seconds (injectable for tests).

    Returns:
        A Starlette application; serve it with any ASGI server (uvicorn), on 127.0.0.1 unless authenticated.

    Raises:
        ConfigurationError (``CONFIGURATION``): If Starlette is not installed.
        ConfigurationError (``SPONSOR_WITHOUT_POLICY``): If there is no ``policy``, no ``senders`` and
            ``allow_any_sender`` is not ``True``.
        InvalidEncoding (``INVALID_ADDRESS``): If an address is malformed.
        InvalidRpcParams: If ``chain_id``, ``validity`` or ``max_body`` is out of range, or ``budget`` is not
            a :class:`SponsorBudget`.
        StoreUnavailable: If the budget's table cannot be created in its store.
    """
    if policy is None and senders is None and allow_any_sender is not True:
        raise ConfigurationError(
            "a sponsor service needs a policy or an allow-list of senders; to sponsor anyone (local "
            "development only) pass allow_any_sender=True",
            rule=ErrorCode.SPONSOR_WITHOUT_POLICY,
        )
    if policy is None and senders is None:
        log.warning("this sponsor service sponsors any sender (allow_any_sender): for local development only")
    allowed = None if senders is None else _senders(senders)
    if budget is not None and not isinstance(budget, SponsorBudget):
        raise InvalidRpcParams(f"budget: expected a SponsorBudget, got {type(budget).__name__}")
    _require_extra("starlette")
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    if isinstance(max_body, bool) or not isinstance(max_body, int) or not 0 < max_body <= 16 * 1024 * 1024:
        raise InvalidRpcParams(f"max_body: expected 1..16 MiB in bytes, got {max_body!r}")
    sponsor = _Sponsor(
        paymaster, signer, chain_id, entry_point, policy, validity, sponsor_name, clock, allowed, budget
    )
    if budget is not None:
        _ensure_budget_table(budget.store)
    limits = JsonLimits(max_bytes=max_body, max_depth=_MAX_DEPTH, max_int_digits=80)

    async def rpc(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body):
            return PlainTextResponse("request body too large", status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return PlainTextResponse("request body too large", status_code=413)
        try:
            document = parse_json(bytes(body), limits=limits, error=InvalidRpcParams, what="JSON-RPC request")
        except SsoSignerError:
            return JSONResponse(_error(None, _PARSE_ERROR, "parse error"))
        if isinstance(document, list):
            if not 0 < len(document) <= _MAX_BATCH:
                return JSONResponse(_error(None, _INVALID_REQUEST, f"a batch holds 1..{_MAX_BATCH} requests"))
            # A policy may block (a database, a quota service): it runs in a worker thread, not on the loop.
            handled = [await run_in_threadpool(sponsor.handle, item) for item in document]
            answers = [answer for answer in handled if answer is not None]
            return JSONResponse(answers) if answers else PlainTextResponse("", status_code=204)
        answer = await run_in_threadpool(sponsor.handle, document)
        return JSONResponse(answer) if answer is not None else PlainTextResponse("", status_code=204)

    return Starlette(routes=[Route("/", rpc, methods=["POST"])])


def _senders(senders: Iterable[str]) -> frozenset[str]:
    if isinstance(senders, str | bytes):  # one address is not an iterable of its characters
        senders = [senders]
    return frozenset(_check_address(sender, "senders").lower() for sender in senders)


class _Served:
    """An ASGI app served by uvicorn in a daemon thread on a loopback port (the local stack's service)."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        _require_extra("uvicorn")
        import uvicorn

        # Bound before the server starts: port 0 picks a free port with no race against other processes.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://{host}:{port}/"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="sso-sponsor", daemon=True
        )

    def start(self, timeout: float = 10.0) -> _Served:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError("the sponsor service did not start", rule=ErrorCode.CONFIGURATION)
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()
