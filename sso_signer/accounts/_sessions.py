"""Session keys: the session signer both account generations take, and the ERC-4337 account's session methods.

A session lets a secp256k1 key (a backend's, or one a KMS/HSM holds) act for the account within a
:class:`~sso_signer.sso.SessionSpec` its passkey approved once (``docs/sessions.md``). Signing with it is a
step of the account's flows (:class:`SessionSignRequest`) that the account's shell answers, checked before
use; both generations share the signer, the step, the checks and the refusals. The ERC-4337 methods refuse a
doomed call before anything is signed (:func:`~sso_signer.sso.check_call` over the chain's usage, expiry and
the operation's fee) and can fall back to the passkey.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Protocol, cast, runtime_checkable

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_typing import Hash32
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from sso_signer._artifacts import load_artifact
from sso_signer._shell import flow_method
from sso_signer.accounts._deployment import required_contract
from sso_signer.accounts._signer import awaited_call, blocking_result
from sso_signer.erc4337 import (
    AsyncPaymasterClient,
    Call,
    PaymasterClient,
    UserOperation,
    UserOperationReceipt,
)
from sso_signer.erc4337._bundler import _BundlerMethods
from sso_signer.erc4337._execute import encode_execute_single
from sso_signer.exceptions import (
    AccountValidationReverted,
    AlreadyExists,
    ConfigurationError,
    ErrorCode,
    InvalidSessionSpec,
    MalformedRpcResponse,
    RpcError,
    SessionRefused,
    SsoEncodingError,
    UserOperationRejected,
    VerificationError,
)
from sso_signer.rpc._eth import ETH_FLOWS, _EthMethods
from sso_signer.rpc._flow import Flow, gather, relay
from sso_signer.sso._session_spec import (
    ERC4337_SESSION_SPEC_TYPE,
    LimitState,
    SessionCall,
    SessionKeyValidator,
    SessionSpec,
    SessionState,
    SessionStatus,
    SessionUsage,
    SessionVerdict,
    check_call,
    usage_from_state,
)
from sso_signer.sso._signature import abi_call, checksum_address, function_selector
from sso_signer.zksync import PaymasterParams

if TYPE_CHECKING:
    from sso_signer.accounts._erc4337 import _Erc4337Methods

__all__ = [
    "FALLBACK_RULES",
    "LocalSessionKey",
    "SessionInfo",
    "SessionSignRequest",
    "SessionSigner",
]

#: ``SessionCreated(address indexed account, bytes32 indexed sessionHash, SessionSpec spec)``.
SESSION_CREATED_TOPIC: Final = bytes(
    keccak(text=f"SessionCreated(address,bytes32,{ERC4337_SESSION_SPEC_TYPE})")
)
_VALIDATOR_MODULE: Final = 1
_SECP256K1_HALF_N: Final = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
# The stub signature makes the validator return "invalid" before it charges the fee limit, so the estimate
# misses that write (a cold storage slot, up to ~22k gas) and the real signature's recovery: pad for both.
_SESSION_VERIFICATION_PAD: Final = 40_000

#: The refusals ``send_with_session_or_passkey`` answers with the passkey by default: the session is
#: used up, expired or revoked, which a passkey-signed operation can do instead. A call the session never
#: allowed (a target, selector, value or argument outside its policies) is not in it: that is a bug to
#: see, not to paper over with a prompt.
FALLBACK_RULES: Final[frozenset[ErrorCode]] = frozenset(
    {
        ErrorCode.SESSION_EXPIRED,
        ErrorCode.SESSION_NOT_ACTIVE,
        ErrorCode.SESSION_LIFETIME_LIMIT,
        ErrorCode.SESSION_PERIOD_LIMIT,
    }
)

# The validator's error names (check_call's rules and the contract's revert errors) and their rules.
_RULES: Final[dict[str, ErrorCode]] = {
    "SessionNotActive": ErrorCode.SESSION_NOT_ACTIVE,
    "CallPolicyViolated": ErrorCode.SESSION_CALL_NOT_ALLOWED,
    "TransferPolicyViolated": ErrorCode.SESSION_TRANSFER_NOT_ALLOWED,
    "MaxValueExceeded": ErrorCode.SESSION_VALUE_PER_USE,
    "InvalidDataLength": ErrorCode.SESSION_CALL_DATA,
    "ConditionViolated": ErrorCode.SESSION_CONSTRAINT,
    "LifetimeUsageExceeded": ErrorCode.SESSION_LIFETIME_LIMIT,
    "AllowanceExceeded": ErrorCode.SESSION_PERIOD_LIMIT,
    "EmptyTimeRange": ErrorCode.SESSION_PERIOD_IDS,
    "Expired": ErrorCode.SESSION_PERIOD_IDS,
    "Panic": ErrorCode.SESSION_PERIOD_IDS,
}


# ------------------------------------------------------------------------------------------------ signers


@runtime_checkable
class SessionSigner(Protocol):
    """The holder of a session's secp256k1 key, as the account needs it; a KMS or HSM can implement it.

    ``sign_hash`` signs a 32-byte hash **raw** (no EIP-191 prefix) and returns ``r ‖ s ‖ v`` (65 bytes,
    ``v`` 27/28 or 0/1, low ``s``). It may be a coroutine function: the async account awaits it, the sync
    account refuses it. A blocking ``sign_hash`` runs in a worker thread on the async account. The account
    checks every answer (length, low ``s``, recovery to ``address``) before using it.
    """

    @property
    def address(self) -> str:
        """The session key's address (the spec's ``signer``)."""
        ...

    def sign_hash(self, digest: bytes) -> bytes | Awaitable[bytes]:
        """Sign ``digest`` (32 bytes) raw."""
        ...


class LocalSessionKey:
    """A session key held in process (an eth-account key); the key never appears in ``repr``.

    Args:
        key: An eth-account ``LocalAccount``, or a private key (32 bytes or hex text).

    Raises:
        InvalidSessionSpec: If ``key`` is not a private key (``field == "key"``).
    """

    __slots__ = ("_account",)

    def __init__(self, key: LocalAccount | bytes | str) -> None:
        if isinstance(key, LocalAccount):
            self._account = key
            return
        try:
            self._account = Account.from_key(key)
        except (ValueError, TypeError) as exc:
            raise InvalidSessionSpec("key: not a secp256k1 private key", field="key") from exc

    @classmethod
    def generate(cls) -> LocalSessionKey:
        """A fresh random key (each key can open one session per validator, ever)."""
        return cls(Account.create())

    def __repr__(self) -> str:
        return f"LocalSessionKey({self.address})"

    @property
    def address(self) -> str:
        """The key's address (checksummed)."""
        return str(self._account.address)

    @property
    def account(self) -> LocalAccount:
        """The eth-account key (to store it: ``account.key``; keep it secret)."""
        return self._account

    def sign_hash(self, digest: bytes) -> bytes:
        """``r ‖ s ‖ v`` over the raw 32-byte ``digest`` (RFC 6979, low ``s``, ``v`` 27/28)."""
        return bytes(self._account.unsafe_sign_hash(Hash32(bytes(digest))).signature)


@dataclass(frozen=True, slots=True)
class SessionSignRequest:
    """A signing step of an account flow: ``signer`` signs ``digest`` raw; the account's shell answers it.

    Attributes:
        signer: The session's signer.
        digest: The 32-byte hash (a userOpHash, the session proof digest, or an Era 0x71 signed hash).
        purpose: ``"user_operation"``, ``"session_proof"`` or ``"era_transaction"``.
    """

    signer: Any
    digest: bytes
    purpose: str

    def answer(self) -> bytes:
        """Answer with blocking I/O (the sync account's shell).

        Raises:
            ConfigurationError (``SIGNER_CONFIGURATION``): If the signer's ``sign_hash`` is asynchronous.
        """
        message = "this session signer is async: use the async account (AsyncErc4337Account, AsyncEraAccount)"
        return bytes(blocking_result(self.signer.sign_hash(self.digest), message))

    async def answer_async(self) -> bytes:
        """Answer with asyncio (the async account's shell): await the signer, or run it in a thread."""
        return bytes(await awaited_call(self.signer.sign_hash, self.digest))


def _signed(signer: Any, digest: bytes, purpose: str) -> Generator[Any, Any, bytes]:
    """Have ``signer`` sign ``digest`` (one step) and check the answer: 65 bytes, low s, by ``signer``."""
    answer = yield SessionSignRequest(signer, digest, purpose)
    address = checksum_address(signer.address, field="signer.address")
    if not isinstance(answer, bytes | bytearray) or len(answer) != 65:
        raise VerificationError(
            f"session signer {address} answered {type(answer).__name__} of the wrong size; expected 65 bytes",
            rule=ErrorCode.SESSION_SIGNATURE_INVALID,
        )
    r, s, v = int.from_bytes(answer[:32], "big"), int.from_bytes(answer[32:64], "big"), answer[64]
    v = v - 27 if v >= 27 else v
    recovered = None
    if v in (0, 1) and 0 < s <= _SECP256K1_HALF_N:
        try:
            key = Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest)
            recovered = key.to_checksum_address()
        except (BadSignature, ValidationError):
            recovered = None
    if recovered != address:
        raise VerificationError(
            f"session signer {address}: the signature is not a low-s signature of the hash by that address",
            rule=ErrorCode.SESSION_SIGNATURE_INVALID,
        )
    return bytes(answer[:64]) + bytes([v + 27])


# ---------------------------------------------------------------------------------------------- chain state


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session of one account as the chain holds it at one block (``sessionState`` and the block time).

    Attributes:
        spec: The session.
        status: ``NOT_INITIALIZED``, ``ACTIVE`` or ``CLOSED`` (revoked); expiry is not a status.
        timestamp: The time of the block read.
        block_number: The block read.
        fees_remaining: What is left of the fee limit (in the current period for an allowance).
        transfer_value: What is left of each transfer policy's value limit, in policy order.
        call_value: What is left of each call policy's value limit, in policy order.
        call_params: What is left of each constraint limit that is not unlimited, in policy order.
    """

    spec: SessionSpec
    status: SessionStatus
    timestamp: int
    block_number: int
    fees_remaining: int
    transfer_value: tuple[LimitState, ...]
    call_value: tuple[LimitState, ...]
    call_params: tuple[LimitState, ...]

    @property
    def session_hash(self) -> bytes:
        """The session's hash (its id on chain)."""
        return self.spec.session_hash

    @property
    def expired(self) -> bool:
        """Whether a userOp in the next block would be past ``expires_at``."""
        return self.timestamp >= self.spec.expires_at

    @property
    def revoked(self) -> bool:
        """Whether the account revoked the session (status ``CLOSED``)."""
        return self.status is SessionStatus.CLOSED

    @property
    def active(self) -> bool:
        """Whether the session can still be used: created, not revoked, not expired."""
        return self.status is SessionStatus.ACTIVE and not self.expired

    def usage(self) -> SessionUsage:
        """What the session used, as :func:`~sso_signer.sso.check_call` takes it (periodic limits: the
        period of :attr:`timestamp`): ``usage_from_state`` of :attr:`state`, the one computation both account
        generations use.

        Raises:
            SsoEncodingError: If the limits do not have the spec's shape (never for a state read from chain,
                which is checked when read).
        """
        return usage_from_state(self.spec, self.state, self.timestamp)

    @property
    def state(self) -> SessionState:
        """The ``sessionState`` answer this was read from."""
        return SessionState(
            self.status, self.fees_remaining, self.transfer_value, self.call_value, self.call_params
        )


def latest_block_flow() -> Flow[tuple[int, int]]:
    """The latest block's ``(timestamp, number)``."""
    block = yield from _EthMethods.get_block.flow(ETH_FLOWS, "latest")
    try:
        assert block is not None
        return int(block["timestamp"], 16), int(block["number"], 16)
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise MalformedRpcResponse("eth_getBlockByNumber: no timestamp/number in the latest block") from exc


def _state_flow(
    validator: str, account: str, spec: SessionSpec, block: tuple[int, int], *, era: bool = False
) -> Flow[SessionInfo]:
    """The session's state at ``block`` (``(timestamp, number)``) on either generation's validator."""
    timestamp, number = block
    read = SessionKeyValidator.era_session_state if era else SessionKeyValidator.session_state
    raw = yield from _EthMethods.call.flow(ETH_FLOWS, {"to": validator, "data": read(account, spec)}, number)
    try:
        state = SessionKeyValidator.decode_session_state(raw)
        usage_from_state(spec, state, timestamp)  # the answer has the spec's shape
    except SsoEncodingError as exc:
        raise MalformedRpcResponse(f"sessionState of {validator}: {exc}") from exc
    values = {field.name: getattr(state, field.name) for field in fields(state)}
    return SessionInfo(spec, timestamp=timestamp, block_number=number, **values)


# --------------------------------------------------------------------------------------------- refusals


def _refusal(
    spec: SessionSpec,
    verdict: SessionVerdict,
    rules: Mapping[str, ErrorCode],
    *,
    passes_without_fee: Callable[[], bool] | None = None,
    source: Literal["preflight", "validator"] = "preflight",
    note: str = "",
) -> SessionRefused:
    """The :class:`SessionRefused` of a refused ``verdict`` (either generation's, the preflight's or the
    validator's), naming the limit that ran out. The fee is charged last: the call passes without it
    (``passes_without_fee``) exactly when the fee limit ran out."""
    name = verdict.rule or ""
    rule = ErrorCode.SESSION_EXPIRED if verdict.expired else rules.get(name, ErrorCode.SESSION_REFUSED)
    limit = None
    if rule in (ErrorCode.SESSION_LIFETIME_LIMIT, ErrorCode.SESSION_PERIOD_LIMIT):
        if verdict.constraint is not None:
            limit = "constraint"
        elif passes_without_fee is not None:
            limit = "fee" if passes_without_fee() else "value"
    where = f" (constraint {verdict.constraint})" if verdict.constraint is not None else ""
    what = f", {limit} limit" if limit else ""
    return SessionRefused(
        f"session {spec.session_hash.hex()[:16]}: {name}{where}{what}{_shown(name, verdict.args)}{note}",
        verdict=name,
        details=tuple(verdict.args),
        constraint=verdict.constraint,
        limit=limit,
        source=source,
        session_hash=spec.session_hash,
        rule=rule,
    )


def _refused(
    spec: SessionSpec, verdict: SessionVerdict, call: SessionCall, now: int, usage: SessionUsage, fee: int
) -> SessionRefused:
    """The ERC-4337 preflight's error for a refused ``verdict``."""
    return _refusal(
        spec,
        verdict,
        _RULES,
        passes_without_fee=lambda: bool(fee) and check_call(spec, call, now, usage, fee=None).accepted,
    )


def _shown(error: str, details: Sequence[Any]) -> str:
    """An error's arguments for a message, named as its ABI names them (``(value=2, maxValuePerUse=1)``);
    bytes as 0x-hex."""
    if not details:
        return ""
    names = _error_parameters().get(error, ())
    if len(names) != len(details) or not all(names):
        names = ("",) * len(details)  # not an error of the ABIs (or another arity): positions only
    shown = ("0x" + d.hex() if isinstance(d, bytes) else str(d) for d in details)
    return "(" + ", ".join(f"{n}={v}" if n else v for n, v in zip(names, shown, strict=True)) + ")"


@functools.cache
def _error_parameters() -> dict[str, tuple[str, ...]]:
    """The parameter names of both session validators' errors, by error name (the ERC-4337 validator's are
    CamelCase, the Era one's UPPER_SNAKE: no name is shared)."""
    found: dict[str, tuple[str, ...]] = {}
    for artifact in ("SessionKeyValidator", "EraSessionKeyValidator"):
        try:
            abi = load_artifact(artifact).abi
        except ConfigurationError:
            continue  # the artifacts ship with the package; without one a message shows positions only
        for entry in abi:
            if entry.get("type") == "error":
                found[str(entry["name"])] = tuple(str(i.get("name") or "") for i in entry.get("inputs", []))
    return found


@functools.cache
def _abi_errors(*artifacts: str) -> dict[bytes, tuple[str, list[str]]]:
    """The custom errors of the artifacts' ABIs (and ``Panic``) by selector: ``(name, argument types)``."""
    found: dict[bytes, tuple[str, list[str]]] = {bytes.fromhex("4e487b71"): ("Panic", ["uint256"])}
    for artifact in artifacts:
        for entry in load_artifact(artifact).abi:
            types = [str(i["type"]) for i in entry.get("inputs", [])]
            if entry.get("type") == "error" and all("tuple" not in t for t in types):
                found[function_selector(str(entry["name"]), types)] = (str(entry["name"]), types)
    return found


def decoded_error(raw: bytes, *artifacts: str) -> tuple[str, tuple[Any, ...]] | None:
    """``(name, arguments)`` of revert data that is one of the artifacts' errors (arguments ``()`` when they
    do not decode), else ``None``."""
    known = _abi_errors(*artifacts).get(bytes(raw[:4]))
    if known is None:
        return None
    try:
        return known[0], tuple(abi_decode(known[1], bytes(raw[4:])))
    except (DecodingError, ValueError, OverflowError):
        return known[0], ()


def _from_rejection(exc: UserOperationRejected, spec: SessionSpec, now: int) -> SessionRefused | None:
    """The same :class:`SessionRefused` for the bundler's refusal of a session userOp, or ``None`` when the
    refusal is not the session validator's (or the EntryPoint's validity window)."""
    found = None
    if isinstance(exc, AccountValidationReverted) and len(exc.revert_data) >= 4:
        found = decoded_error(exc.revert_data, "SessionKeyValidator")
    elif exc.aa_code == "AA22":
        found = ("Expired", ())  # the validator's window does not hold the inclusion time
    if found is None:
        return None
    expired = found[0] in ("Expired", "EmptyTimeRange") and now > spec.expires_at
    verdict = SessionVerdict(found[0], found[1], expired=expired)
    refusal = _refusal(spec, verdict, _RULES, source="validator", note=f" ({exc.reason})")
    refusal.__cause__ = exc
    return refusal


# ------------------------------------------------------------------------------------------ account mixin


class _SessionMethods:
    """Session keys on the ERC-4337 account (a mixin of :class:`~sso_signer.accounts.Erc4337Account` and its
    async twin; every method is a flow, see :mod:`sso_signer._shell`)."""

    address: str
    deployment: Any
    bundler: Any
    factory_data: bytes | None
    _bundler_step: ClassVar[Any]  # the step the account's shell sends to its bundler (a bundler flow's wrap)

    def _account_methods(self) -> _Erc4337Methods[Any, Any]:
        return cast("_Erc4337Methods[Any, Any]", self)

    def _session_validator(self) -> str:
        missing = "the deployment has no session_validator (SessionKeyValidator)"
        return required_contract(self.deployment.session_validator, missing)

    @flow_method
    def session_state(self, spec: SessionSpec) -> Flow[SessionInfo]:
        """Read the session's status and what is left of its limits from the latest block.

        Args:
            spec: The session.

        Returns:
            The state (``NOT_INITIALIZED`` for a spec this account never created).

        Raises:
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``): If the deployment has no session validator.
            MalformedRpcResponse: If the node's answer is not a ``SessionState``.
        """
        validator = self._session_validator()
        block = yield from latest_block_flow()
        return (yield from _state_flow(validator, self.address, spec, block))

    @flow_method
    def list_sessions(self, *, from_block: int | str = "earliest") -> Flow[tuple[SessionInfo, ...]]:
        """The sessions this account created (its ``SessionCreated`` logs) with their state, oldest first;
        revoked and expired ones included (see :attr:`SessionInfo.active`).

        Args:
            from_block: The first block to search (the account's creation block spares the node work).

        Raises:
            ConfigurationError (``MISSING_CONTRACT_ADDRESS``): If the deployment has no session validator.
            MalformedRpcResponse: If a log does not hold a spec this SDK reads, or a state does not decode.
        """
        validator = self._session_validator()
        account_topic = bytes(12) + bytes.fromhex(self.address[2:])
        logs = yield from _EthMethods.get_logs.flow(
            ETH_FLOWS, validator, [SESSION_CREATED_TOPIC, account_topic], from_block, "latest"
        )
        specs: dict[bytes, SessionSpec] = {}
        for log in logs:
            try:
                spec = SessionSpec.decode(log.data)
            except SsoEncodingError as exc:
                raise MalformedRpcResponse(f"SessionCreated log of {validator}: {exc}") from exc
            specs.setdefault(spec.session_hash, spec)
        block = yield from latest_block_flow()
        found = yield from gather(*(_state_flow(validator, self.address, s, block) for s in specs.values()))
        return tuple(found)

    @flow_method
    def create_session(
        self,
        spec: SessionSpec,
        signer: SessionSigner,
        *,
        timeout: float = 60.0,
        from_block: int | str | None = None,
    ) -> Generator[Any, Any, UserOperationReceipt]:
        """Open a session: one passkey-signed UserOperation that installs the session validator when the
        account lacks it, then calls ``createSession(spec, proof)`` (the proof is signed by ``signer``).

        Installing the validator again after it was uninstalled would bring back every session the uninstall
        did not revoke (the validator keeps their status): when a deployed account lacks the validator, the
        same operation revokes those whose status is still active, found by the account's ``SessionCreated``
        logs from the block the account was deployed in (found with a few ``eth_getCode`` reads of recent
        blocks, stepping back from the latest), so a young account's first session costs no long log scan.

        Args:
            spec: The session (its ``signer`` must be ``signer.address``).
            signer: The session key's holder.
            timeout: Seconds to wait for inclusion.
            from_block: Where to start looking for the account's earlier sessions instead of its deployment
                block, for a node that refuses that range or old state: the first block where the account
                may have had the session validator (sessions created before it are not looked for).

        Returns:
            The receipt.

        Raises:
            ConfigurationError (``SIGNER_CONFIGURATION``): If ``signer`` is not the spec's signer;
                (``MISSING_CONTRACT_ADDRESS``) if the deployment has no session validator.
            AlreadyExists: If the signer already opened a session on this validator (``SignerAlreadyUsed``:
                a signer serves one session, ever).
            InvalidSessionSpec: If ``expires_at`` is less than 60 s ahead (``SessionExpiresTooSoon``).
            RpcError (``HISTORY_REFUSED``): If the node refused the log range or the old state this needs
                (nothing was signed): pass ``from_block``.
            UserOperationRejected, UserOperationReverted, UserOperationOutcomeUnknown: As ``send_calls``.
        """
        validator = self._session_validator()
        _same_signer(spec, signer)
        code = yield from _EthMethods.get_code.flow(ETH_FLOWS, self.address)
        module_types, module = ["uint256", "address", "bytes"], [_VALIDATOR_MODULE, validator, b""]
        installed_read = _EthMethods.call.flow(
            ETH_FLOWS, {"to": self.address, "data": abi_call("isModuleInstalled", module_types, module)}
        )
        used_read = _EthMethods.call.flow(
            ETH_FLOWS, {"to": validator, "data": abi_call("sessionSigner", ["address"], [spec.signer])}
        )
        if code:
            installed_raw, used, block = yield from gather(installed_read, used_read, latest_block_flow())
            installed = installed_raw[-1:] == b"\x01"
        else:  # not created yet: its initCode may install the validator at creation
            used, block = yield from gather(used_read, latest_block_flow())
            installed = bytes.fromhex(validator[2:]) in (self.factory_data or b"")
        if any(used):
            raise AlreadyExists(
                f"session signer {spec.signer} already opened a session on {validator} (SignerAlreadyUsed): "
                "use a new key",
                rule=ErrorCode.ALREADY_EXISTS,
            )
        if spec.expires_at < block[0] + 60:
            raise InvalidSessionSpec(
                f"expires_at: {spec.expires_at} is less than 60 s after the chain's time {block[0]} "
                "(SessionExpiresTooSoon)",
                field="expires_at",
            )
        calls = [] if installed else [Call(self.address, 0, abi_call("installModule", module_types, module))]
        if code and not installed:
            # Uninstalling kept the sessions it was not told to revoke: installing again would revive them.
            created = yield from _created_hashes_flow(validator, self.address, block[1], from_block)
            statuses = yield from _statuses_flow(validator, self.address, created)
            stale = [h for h, status in zip(created, statuses, strict=True) if status == SessionStatus.ACTIVE]
            if stale:
                calls.append(Call(validator, 0, SessionKeyValidator.revoke_keys(stale)))
        proof = yield from _signed(signer, spec.proof_digest(self.address), "session_proof")
        calls.append(Call(validator, 0, SessionKeyValidator.create_session(spec, proof)))
        return (yield from self._account_methods()._send_calls_flow(calls, timeout))

    @flow_method
    def revoke_sessions(
        self, *sessions: SessionSpec | bytes, timeout: float = 60.0
    ) -> Generator[Any, Any, UserOperationReceipt]:
        """Revoke sessions (``revokeKey`` / ``revokeKeys``) in one passkey-signed UserOperation.

        Args:
            sessions: Specs or session hashes; each must be active for this account (checked first).
            timeout: Seconds to wait for inclusion.

        Raises:
            SessionRefused (``SESSION_NOT_ACTIVE``): If one is not active (never created or revoked): the
                validator would refuse the whole batch. Nothing was signed.
            UserOperationRejected, UserOperationReverted, UserOperationOutcomeUnknown: As ``send_calls``.
        """
        validator = self._session_validator()
        hashes = [s.session_hash if isinstance(s, SessionSpec) else bytes(s) for s in sessions]
        if any(len(digest) != 32 for digest in hashes):
            raise InvalidSessionSpec("sessions: expected SessionSpecs or 32-byte hashes", field="sessions")
        if not hashes:
            raise InvalidSessionSpec("sessions: nothing to revoke", field="sessions")
        statuses = yield from _statuses_flow(validator, self.address, hashes)
        for digest, status in zip(hashes, statuses, strict=True):
            if status != SessionStatus.ACTIVE:
                raise SessionRefused(
                    f"session {digest.hex()} is not active for {self.address}: nothing to revoke",
                    verdict="SessionNotActive",
                    session_hash=digest,
                    rule=ErrorCode.SESSION_NOT_ACTIVE,
                )
        data = (
            SessionKeyValidator.revoke_key(hashes[0])
            if len(hashes) == 1
            else SessionKeyValidator.revoke_keys(hashes)
        )
        return (yield from self._account_methods()._send_calls_flow([Call(validator, 0, data)], timeout))

    @flow_method
    def build_session_user_operation(
        self,
        spec: SessionSpec,
        signer: SessionSigner,
        call: Call | tuple[str, int, bytes],
        *,
        preflight: bool = True,
        paymaster: str | PaymasterClient | AsyncPaymasterClient | PaymasterParams | None = None,
        paymaster_data: bytes = b"",
        paymaster_context: Mapping[str, Any] | None = None,
    ) -> Generator[Any, Any, UserOperation]:
        """A signed session UserOperation running ``call``: nonce key ``uint160(signer)``, the session
        signature with the period ids of the chain's time, gas estimated with the session's stub signature.

        The preflight (on by default) reads the session's state, applies the validator's rules
        (:func:`~sso_signer.sso.check_call`) with the chain's usage and time, before estimating and again
        with the operation's maximum fee, and raises before anything is signed. With a paymaster the fee is
        not checked: the validator counts fees against the session's fee limit only when
        ``paymasterAndData`` is empty (``sso-sessions.md`` §2.7 step 12), so a sponsored operation leaves the
        fee limit untouched.

        Args:
            spec: The session.
            signer: Its key's holder.
            call: The one call (``(target, value, data)``); a session userOp runs exactly one.
            preflight: ``False`` skips the preflight: **for tests only**, to show that the validator refuses
                what the preflight would (its refusals still come back as :class:`SessionRefused`).
            paymaster: Who pays, as for ``build_user_operation``: an ERC-7677 paymaster service client
                (stub data before the estimate, final data after it, before the session key signs), a fixed
                paymaster address or ``PaymasterParams``; default the account's ``paymaster``.
            paymaster_data: Data for a fixed paymaster address.
            paymaster_context: The ERC-7677 context for the service (default the client's).

        Raises:
            SessionRefused: The session may not make this call; ``rule`` names why, ``source`` who said so.
            SponsorshipRefused: The paymaster service (or its client's policy) refused; nothing was signed.
            UserOperationRejected: The bundler refused it for another reason.
        """
        validator = self._session_validator()
        _same_signer(spec, signer)
        account = self._account_methods()
        sponsorship, fixed, fixed_data = account._paymaster_choice(
            paymaster, paymaster_data, paymaster_context
        )
        one = call if isinstance(call, Call) else Call(*call)
        session_call = SessionCall(one.target, one.value, one.data)
        block = yield from latest_block_flow()
        now = block[0] + 1  # the earliest the next block can be
        usage = SessionUsage()
        if preflight:
            info = yield from _state_flow(validator, self.address, spec, block)
            usage = info.usage()
            verdict = check_call(spec, session_call, now, usage, fee=0)
            if not verdict.accepted:
                raise _refused(spec, verdict, session_call, now, usage, 0)
        ids = spec.period_ids(session_call, now)
        stub = SessionKeyValidator.signature(validator, bytes(65), spec, ids)
        call_data = encode_execute_single(one.target, one.value, one.data)
        prices = _BundlerMethods.get_user_operation_gas_price.flow(self.bundler)
        gas_price = (yield from relay(prices, self._bundler_step)).standard
        for attempt in (1, 2):
            deployed, nonce, _ = yield from account._state_flow(spec.nonce_key)
            op = account._draft(deployed, nonce, call_data, gas_price, fixed, fixed_data)
            op = yield from account._paymaster_stub_flow(sponsorship, op)
            try:
                estimate = yield from account._estimate_flow(op, stub)
                break
            except UserOperationRejected as exc:
                if exc.aa_code == "AA25" and attempt == 1:
                    # Another sender used this session's nonce lane: read it again (nothing signed yet).
                    account.forget_state()
                    continue
                refusal = _from_rejection(exc, spec, now)
                if refusal is None:
                    raise
                raise refusal from exc
        op = estimate.apply(op)
        op = op.replace(verification_gas_limit=op.verification_gas_limit + _SESSION_VERIFICATION_PAD)
        # The final paymaster data covers the gas limits (the service signs them): after the pad.
        op = yield from account._paymaster_final_flow(sponsorship, op, estimated=True)
        if preflight:
            # What the validator charges to the fee limit: nothing with a paymaster, else at most this.
            gas = op.pre_verification_gas + op.verification_gas_limit + op.call_gas_limit
            fee = None if op.paymaster is not None else op.max_fee_per_gas * gas
            verdict = check_call(spec, session_call, now, usage, fee=fee)
            if not verdict.accepted:
                raise _refused(spec, verdict, session_call, now, usage, fee or 0)
        digest = account.user_operation_hash(op)
        signature = yield from _signed(signer, digest, "user_operation")
        return op.replace(signature=SessionKeyValidator.signature(validator, signature, spec, ids))

    @flow_method
    def send_with_session(
        self,
        spec: SessionSpec,
        signer: SessionSigner,
        to: str,
        value: int = 0,
        data: bytes = b"",
        *,
        preflight: bool = True,
        timeout: float = 60.0,
        paymaster: str | PaymasterClient | AsyncPaymasterClient | PaymasterParams | None = None,
        paymaster_data: bytes = b"",
        paymaster_context: Mapping[str, Any] | None = None,
    ) -> Generator[Any, Any, UserOperationReceipt]:
        """Run one call with the session key (no passkey): build, preflight, sign, send and wait.

        Args:
            spec: The session.
            signer: Its key's holder.
            to: The target (a transfer recipient, or the contract called).
            value: Wei sent.
            data: Calldata (empty for a transfer).
            preflight: See :meth:`build_session_user_operation` (``False`` is for tests only).
            timeout: Seconds to wait for inclusion.
            paymaster, paymaster_data, paymaster_context: Who pays, see
                :meth:`build_session_user_operation` (default the account's ``paymaster``).

        Returns:
            The receipt (``success`` is checked).

        Raises:
            SessionRefused: The preflight, or the validator in the bundler's simulation, refused the call;
                nothing was sent.
            SponsorshipRefused: The paymaster service refused; nothing was signed.
            UserOperationRejected, UserOperationReverted, UserOperationOutcomeUnknown: As ``send_calls``.
        """
        signed = yield from _SessionMethods.build_session_user_operation.flow(
            self,
            spec,
            signer,
            (to, value, data),
            preflight=preflight,
            paymaster=paymaster,
            paymaster_data=paymaster_data,
            paymaster_context=paymaster_context,
        )
        block = yield from latest_block_flow()
        try:
            user_op_hash = yield from type(self._account_methods()).send_user_operation.flow(
                self._account_methods(), signed
            )
        except UserOperationRejected as exc:
            refusal = _from_rejection(exc, spec, block[0] + 1)
            if refusal is None:
                raise
            raise refusal from exc
        return (yield from self._account_methods()._receipt_flow(user_op_hash, signed, timeout))

    @flow_method
    def send_with_session_or_passkey(
        self,
        spec: SessionSpec,
        signer: SessionSigner,
        to: str,
        value: int = 0,
        data: bytes = b"",
        *,
        fallback_on: Collection[ErrorCode] = FALLBACK_RULES,
        timeout: float = 60.0,
        paymaster: str | PaymasterClient | AsyncPaymasterClient | PaymasterParams | None = None,
        paymaster_data: bytes = b"",
        paymaster_context: Mapping[str, Any] | None = None,
    ) -> Generator[Any, Any, tuple[UserOperationReceipt, SessionRefused | None]]:
        """Try the session; when it is refused for a rule in ``fallback_on`` (by default: expired, revoked,
        a lifetime or periodic limit used up), ask the account's passkey to run the same call instead.

        Args:
            spec: The session.
            signer: Its key's holder.
            to: The target.
            value: Wei sent.
            data: Calldata.
            fallback_on: The :class:`SessionRefused` rules that fall back to the passkey; others are raised.
            timeout: Seconds to wait for inclusion.
            paymaster, paymaster_data, paymaster_context: Who pays, on either path (see
                :meth:`build_session_user_operation`).

        Returns:
            ``(receipt, refusal)``: ``refusal`` is ``None`` when the session ran the call, else the
            refusal that made the passkey run it.

        Raises:
            SessionRefused: A refusal whose rule is not in ``fallback_on`` (nothing was sent).
            UserOperationRejected, UserOperationReverted, UserOperationOutcomeUnknown: From either path.
        """
        sponsor: dict[str, Any] = {
            "paymaster": paymaster,
            "paymaster_data": paymaster_data,
            "paymaster_context": paymaster_context,
        }
        try:
            receipt = yield from _SessionMethods.send_with_session.flow(
                self, spec, signer, to, value, data, timeout=timeout, **sponsor
            )
        except SessionRefused as refusal:
            if refusal.rule not in fallback_on:
                raise
            receipt = yield from type(self._account_methods()).send.flow(
                self._account_methods(), to, value, data, timeout=timeout, **sponsor
            )
            return receipt, refusal
        return receipt, None


def _created_hashes_flow(
    validator: str, account: str, latest: int, from_block: int | str | None
) -> Flow[list[bytes]]:
    """The hashes of the sessions the deployed ``account`` created on ``validator`` (its ``SessionCreated``
    logs' second indexed topic; the specs are not decoded), oldest first, from ``from_block`` or else from
    the account's deployment block (nothing can have been created before it)."""
    start: int | str
    try:
        start = from_block if from_block is not None else (yield from _deployment_block_flow(account, latest))
    except RpcError as exc:
        raise _history_refused(exc, f"looks for {account}'s deployment block in old blocks' state") from exc
    account_topic = bytes(12) + bytes.fromhex(account[2:])
    try:
        logs = yield from _EthMethods.get_logs.flow(
            ETH_FLOWS, validator, [SESSION_CREATED_TOPIC, account_topic], start, "latest"
        )
    except RpcError as exc:
        shown = start if isinstance(start, str) else f"block {start}"
        raise _history_refused(exc, f"reads {account}'s SessionCreated logs from {shown} on") from exc
    return list(dict.fromkeys(log.topics[2] for log in logs if len(log.topics) == 3))


def _deployment_block_flow(account: str, latest: int) -> Flow[int]:
    """The first block at which ``account`` (which has code at ``latest``) has code: steps back from
    ``latest`` doubling each time until a block without code, then bisects; about ``2·log2(age)`` reads of
    state no older than twice the account's age (a young account's is recent state every node keeps)."""
    with_code, step = latest, 1
    without_code = -1  # before the first block
    while latest - step >= 0:
        if not (yield from _EthMethods.get_code.flow(ETH_FLOWS, account, latest - step)):
            without_code = latest - step
            break
        with_code, step = latest - step, step * 2
    while with_code - without_code > 1:
        middle = (with_code + without_code) // 2
        if (yield from _EthMethods.get_code.flow(ETH_FLOWS, account, middle)):
            with_code = middle
        else:
            without_code = middle
    return with_code


def _history_refused(exc: RpcError, what: str) -> RpcError:
    """``HISTORY_REFUSED``: the node's refusal (``exc``, kept verbatim in ``rpc_message``) and what to do."""
    refused = RpcError(
        exc.code,
        f"{exc.rpc_message}. create_session {what}: the account lacks the session "
        "validator, and installing it again would revive sessions an earlier uninstall left active. Pass "
        "create_session(..., from_block=N) with the first block where this account may have had the "
        "validator, in a range the node serves (sessions created before N are not looked for)",
        exc.data,
        method=exc.method,
        revert=exc.revert,
        rule=ErrorCode.HISTORY_REFUSED,
    )
    refused.rpc_message = refused.message = exc.rpc_message
    return refused


def _statuses_flow(validator: str, account: str, hashes: Sequence[bytes]) -> Flow[list[int]]:
    """``sessionStatus(account, hash)`` of each hash, in one batch."""
    answers = yield from gather(
        *(
            _EthMethods.call.flow(
                ETH_FLOWS, {"to": validator, "data": SessionKeyValidator.session_status(account, h)}
            )
            for h in hashes
        )
    )
    return [int.from_bytes(raw[-32:] or b"\0", "big") for raw in answers]


def _same_signer(spec: SessionSpec, signer: Any) -> None:
    if not isinstance(getattr(signer, "address", None), str) or not callable(
        getattr(signer, "sign_hash", None)
    ):
        hint = " (wrap an eth-account key in LocalSessionKey)" if isinstance(signer, LocalAccount) else ""
        raise ConfigurationError(
            f"signer: expected a SessionSigner (an address and sign_hash){hint}",
            rule=ErrorCode.SIGNER_CONFIGURATION,
        )
    if signer.address.lower() != spec.signer.lower():
        raise ConfigurationError(
            f"signer {signer.address} is not the session's signer {spec.signer}",
            rule=ErrorCode.SIGNER_CONFIGURATION,
        )
