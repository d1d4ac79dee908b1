"""A bundler client (ERC-4337 JSON-RPC, Pimlico's gas price) on the project's JSON-RPC core, sync and async.

The requests and the decoding are written once as I/O-free flows (see :mod:`sso_signer.rpc`); the sync and
async clients only drive them. Bundler rejections become typed errors: the EntryPoint's ``AAxx`` code in
the message picks the class (``AA23`` → :class:`AccountValidationReverted`, ``AA24`` →
:class:`~sso_signer.exceptions.UserOperationRejected` (``ErrorCode.SIGNATURE_VALIDATION_FAILED``), ...), and
the code is kept on ``exc.aa_code``.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from hexbytes import HexBytes

from sso_signer._shell import flow_method
from sso_signer.erc4337._user_operation import (
    ENTRY_POINT_V08,
    UserOperation,
    _check_address,
    user_operation_hash,
)
from sso_signer.exceptions import (
    AccountValidationReverted,
    AfterSendError,
    BundlerError,
    ErrorCode,
    InvalidRpcParams,
    MalformedRpcResponse,
    RpcError,
    RpcTransportError,
    UserOperationOutcomeUnknown,
    UserOperationRejected,
    UserOperationReverted,
    UserOperationTimeout,
)
from sso_signer.rpc import AsyncJsonRpcClient, Deadline, JsonRpcClient, Receipt, RetryPolicy, RevertData
from sso_signer.rpc._client import AsyncRpcShell, RpcShell, safe_url
from sso_signer.rpc._core import RpcCall
from sso_signer.rpc._flow import Flow, after_send, poll
from sso_signer.rpc._revert import describe_revert_in_text
from sso_signer.rpc._types import (
    Log,
    parse_address,
    parse_data,
    parse_hash,
    parse_logs,
    parse_object,
    parse_quantity,
)

__all__ = [
    "AsyncBundlerClient",
    "BundlerClient",
    "GasEstimate",
    "GasPrice",
    "GasPriceCache",
    "GasPrices",
    "UserOperationReceipt",
    "bundler_error_from",
    "describe_revert",
]

_AA_CODE: Final = re.compile(r"\b(AA\d\d)\b")
_REVERT_HEX: Final = re.compile(r"(0x[0-9a-fA-F]{8,})")
# ERC-7769 codes a bundler uses for a failing call phase during estimation.
_EXECUTION_REVERTED_CODE: Final = -32521
DEFAULT_USER_OP_TIMEOUT: Final = 60.0
_POLL_INTERVAL: Final = 0.25
# Alto accepts fees down to the lowest price it served within --gas-price-expiry (default 20 s); half of
# that leaves room for the passkey ceremony between the build and the send.
DEFAULT_GAS_PRICE_TTL: Final = 10.0


@dataclass(frozen=True, slots=True)
class GasEstimate:
    """A bundler's gas estimate for a UserOperation (``eth_estimateUserOperationGas``).

    Attributes:
        pre_verification_gas: Gas the bundler charges for calldata and overhead.
        verification_gas_limit: Gas for account creation and validation.
        call_gas_limit: Gas for the call phase.
        paymaster_verification_gas_limit: Gas for the paymaster's validation, if a paymaster is used.
        paymaster_post_op_gas_limit: Gas for the paymaster's postOp, if reported.
    """

    pre_verification_gas: int
    verification_gas_limit: int
    call_gas_limit: int
    paymaster_verification_gas_limit: int | None = None
    paymaster_post_op_gas_limit: int | None = None

    def apply(self, op: UserOperation, *, verification_margin: float = 1.2) -> UserOperation:
        """Copy ``op`` with these limits; the verification limit gets a margin (×1.2 as the official core).

        Args:
            op: The UserOperation to update.
            verification_margin: Factor on ``verification_gas_limit`` (the stub signature's validation path
                is close to, not exactly, the real one's).

        Returns:
            The updated UserOperation.
        """
        changes: dict[str, Any] = {
            "pre_verification_gas": self.pre_verification_gas,
            "verification_gas_limit": int(self.verification_gas_limit * verification_margin),
            "call_gas_limit": self.call_gas_limit,
        }
        if op.paymaster is not None:
            if self.paymaster_verification_gas_limit is not None:
                changes["paymaster_verification_gas_limit"] = self.paymaster_verification_gas_limit
            if self.paymaster_post_op_gas_limit is not None:
                changes["paymaster_post_op_gas_limit"] = self.paymaster_post_op_gas_limit
        return op.replace(**changes)


@dataclass(frozen=True, slots=True)
class GasPrice:
    """EIP-1559 fees for a UserOperation."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True, slots=True)
class GasPrices:
    """``pimlico_getUserOperationGasPrice``: three speeds of fees the bundler will accept."""

    slow: GasPrice
    standard: GasPrice
    fast: GasPrice


class GasPriceCache:
    """The last ``pimlico_getUserOperationGasPrice`` answer of one bundler client, kept for ``ttl`` seconds.

    A bundler such as Alto accepts fees down to the lowest price it served within its expiry window (20 s by
    default), so a recent answer can be reused instead of asking again for every operation. The age is
    counted from when the request went out, and a rejected send clears the cache.

    Args:
        ttl: Seconds an answer is reused; 0 turns the cache off.
        clock: A monotonic clock in seconds (injectable for tests).

    Raises:
        InvalidRpcParams: If ``ttl`` is negative or not a number.
    """

    __slots__ = ("_clock", "_entry", "ttl")

    def __init__(
        self, ttl: float = DEFAULT_GAS_PRICE_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl >= 0:
            raise InvalidRpcParams(f"gas_price_ttl: expected a number of seconds >= 0, got {ttl!r}")
        self.ttl = float(ttl)
        self._clock = clock
        self._entry: tuple[float, GasPrices] | None = None

    def now(self) -> float:
        """The clock's current reading."""
        return self._clock()

    def get(self) -> GasPrices | None:
        """The cached prices if they are younger than ``ttl``, else ``None``."""
        entry = self._entry
        if entry is None or self.ttl == 0 or self._clock() - entry[0] >= self.ttl:
            return None
        return entry[1]

    def put(self, prices: GasPrices, asked_at: float) -> None:
        """Remember ``prices``, asked for at clock reading ``asked_at``."""
        if self.ttl > 0:
            self._entry = (asked_at, prices)

    def clear(self) -> None:
        """Forget the cached prices; the next request asks the bundler."""
        self._entry = None


@dataclass(frozen=True, slots=True)
class UserOperationReceipt:
    """``eth_getUserOperationReceipt``: what happened to a bundled UserOperation.

    Attributes:
        user_op_hash: The userOpHash.
        entry_point: The EntryPoint that ran it.
        sender: The account.
        nonce: The op's nonce.
        paymaster: The paymaster, or ``None``.
        actual_gas_cost: Wei charged to the account or paymaster.
        actual_gas_used: Gas charged.
        success: Whether the call phase succeeded (validation always did, or there is no receipt).
        reason: Revert data of the call phase (empty on success).
        logs: The logs emitted while running this op.
        receipt: The receipt of the bundle transaction.
    """

    user_op_hash: HexBytes
    entry_point: str
    sender: str
    nonce: int
    paymaster: str | None
    actual_gas_cost: int
    actual_gas_used: int
    success: bool
    reason: HexBytes
    logs: tuple[Log, ...]
    receipt: Receipt

    @property
    def transaction_hash(self) -> HexBytes:
        """The hash of the bundle transaction that included the operation (as on an Era ``Receipt``)."""
        return self.receipt.transaction_hash

    @classmethod
    def from_rpc(cls, obj: object) -> UserOperationReceipt:
        """Parse a bundler's receipt object.

        Raises:
            MalformedRpcResponse: If a field is missing or malformed.
        """
        obj = parse_object(obj, "eth_getUserOperationReceipt")
        paymaster_raw = obj.get("paymaster")
        paymaster = parse_address(paymaster_raw, "paymaster") if paymaster_raw else None
        if paymaster is not None and int(paymaster, 16) == 0:
            paymaster = None
        success = obj.get("success")
        if not isinstance(success, bool):
            raise MalformedRpcResponse(f"eth_getUserOperationReceipt: success is {success!r}")
        return cls(
            user_op_hash=parse_hash(obj.get("userOpHash"), "userOpHash"),
            entry_point=parse_address(obj.get("entryPoint"), "entryPoint"),
            sender=parse_address(obj.get("sender"), "sender"),
            nonce=parse_quantity(obj.get("nonce"), "nonce"),
            paymaster=paymaster,
            actual_gas_cost=parse_quantity(obj.get("actualGasCost"), "actualGasCost"),
            actual_gas_used=parse_quantity(obj.get("actualGasUsed"), "actualGasUsed"),
            success=success,
            reason=HexBytes(parse_data(obj.get("reason") or "0x", "reason")),
            logs=parse_logs(obj.get("logs") or [], "eth_getUserOperationReceipt: logs"),
            receipt=Receipt.from_rpc(obj.get("receipt")),
        )


def bundler_error_from(exc: RpcError) -> BundlerError:
    """Turn a bundler's JSON-RPC error into the most specific :class:`BundlerError`.

    Args:
        exc: The error the JSON-RPC core raised.

    Returns:
        An error whose class names the cause; ``aa_code`` holds the ``AAxx`` code if the message had one.
    """
    message = exc.rpc_message
    match = _AA_CODE.search(message)
    aa_code = match.group(1) if match else None
    kwargs: dict[str, Any] = {"code": exc.code, "aa_code": aa_code, "reason": message, "data": exc.data}
    text = f"bundler rejected the UserOperation ({exc.code}): {message}"
    named_revert = _named_revert(exc) if aa_code != "AA23" else None
    if named_revert is not None:
        text = f"{text} [{named_revert}]"
    if aa_code == "AA21":  # the bare code does not say what to do about it
        text += (
            " (the account cannot pay its gas: fund it, deposit for it at the EntryPoint, or use a paymaster)"
        )
    if aa_code is None:
        lowered = message.lower()
        if "entrypoint" in lowered.replace(" ", "") and "not supported" in lowered:
            return BundlerError(text, **kwargs, rule=ErrorCode.UNSUPPORTED_ENTRY_POINT)
        if exc.code == _EXECUTION_REVERTED_CODE:
            return UserOperationRejected(text, **kwargs, rule=ErrorCode.USER_OPERATION_EXECUTION_REVERTED)
        if exc.method not in ("eth_estimateUserOperationGas", "eth_sendUserOperation"):
            return BundlerError(f"bundler error ({exc.code}) on {exc.method}: {message}", **kwargs)
    if aa_code == "AA23":
        raw = exc.revert.raw if exc.revert is not None else b""
        found = _REVERT_HEX.search(message)
        if not raw and found and len(found.group(1)) % 2 == 0:
            raw = bytes.fromhex(found.group(1)[2:])
        named = describe_revert(raw)
        if named is not None:
            text = f"{text} [{named}]"
        return AccountValidationReverted(text, revert_data=raw, revert_error=named, **kwargs)
    return UserOperationRejected(text, **kwargs, rule=_aa_rule(aa_code))


_AA_RULES: dict[str, ErrorCode] = {
    "AA21": ErrorCode.INSUFFICIENT_PREFUND,
    "AA24": ErrorCode.SIGNATURE_VALIDATION_FAILED,
    "AA25": ErrorCode.INVALID_ACCOUNT_NONCE,
}
_AA_FAMILY_RULES: dict[str, ErrorCode] = {
    "AA1": ErrorCode.ACCOUNT_CREATION_FAILED,
    "AA2": ErrorCode.ACCOUNT_VALIDATION_FAILED,
    "AA3": ErrorCode.PAYMASTER_VALIDATION_FAILED,
}


def _aa_rule(aa_code: str | None) -> ErrorCode:
    # The most precise rule for an EntryPoint AAxx code (AA23 has its own class); unknown codes: the default.
    if aa_code is None:
        return ErrorCode.USER_OPERATION_REJECTED
    return _AA_RULES.get(aa_code) or _AA_FAMILY_RULES.get(aa_code[:3], ErrorCode.USER_OPERATION_REJECTED)


def _named_revert(exc: RpcError) -> str | None:
    # Bundlers put the revert in the message ("reason: 0x…") or in the error's data.
    if exc.revert is not None and exc.revert.decoded:
        return exc.revert.describe()
    return describe_revert_in_text(exc.rpc_message)


def describe_revert(raw: bytes) -> str | None:
    """Name a revert the package knows (``InvalidAuthDataFlags(0x01)``): see ``RevertData.describe``.

    Args:
        raw: Revert bytes (a bundler may cut them short; the name is still given).

    Returns:
        ``Name(args)``, ``Name`` when the arguments are cut or malformed, or ``None`` for unknown selectors.
    """
    revert = RevertData.decode(bytes(raw))
    if revert.error_name is None:
        return None
    if revert.arguments:
        return revert.describe()
    if revert.signature == f"{revert.error_name}(bytes1)" and len(raw) > 4:
        return f"{revert.error_name}(0x{raw[4]:02x})"  # the flags byte leads the word even when cut
    return revert.error_name


def _request(method: str, params: Sequence[Any], deadline: float | None = None) -> Flow[Any]:
    try:
        result = yield RpcCall(method, tuple(params), deadline=deadline)
    except RpcError as exc:
        raise bundler_error_from(exc) from exc
    return result


def _gas_price(obj: object, field: str) -> GasPrice:
    obj = parse_object(obj, f"pimlico_getUserOperationGasPrice: {field}")
    return GasPrice(
        max_fee_per_gas=parse_quantity(obj.get("maxFeePerGas"), f"{field}.maxFeePerGas"),
        max_priority_fee_per_gas=parse_quantity(
            obj.get("maxPriorityFeePerGas"), f"{field}.maxPriorityFeePerGas"
        ),
    )


def _optional_quantity(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return None if value is None else parse_quantity(value, key)


class _BundlerMethods:
    """An ERC-4337 bundler client (on :class:`AsyncBundlerClient`, the same methods are awaitable).

    Args:
        url: The bundler's HTTP endpoint (or pass ``rpc=`` / ``transport=``).
        rpc: An existing :class:`~sso_signer.rpc.JsonRpcClient` (or async one) to share.
        transport: An httpx transport (fault injection in tests).
        timeout: Seconds per HTTP attempt (simulation can be slow on a busy node).
        retry: Retry policy for transport failures of idempotent requests.
        deadline: Wall-clock bound of each call, attempts included (see :class:`JsonRpcClient`).
        entry_point: The EntryPoint every request names; default the canonical v0.8.
        gas_price_ttl: Seconds a ``pimlico_getUserOperationGasPrice`` answer is reused (see
            :class:`GasPriceCache`); keep it well under the bundler's expiry (Alto: 20 s). 0 turns it off.
        clock: The monotonic clock the cache reads (injectable for tests).

    Raises:
        InvalidRpcParams: If ``gas_price_ttl`` is negative.
    """

    rpc: Any

    def __init__(
        self,
        url: str | None = None,
        *,
        rpc: JsonRpcClient | AsyncJsonRpcClient | None = None,
        transport: Any = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        deadline: Deadline = "auto",
        entry_point: str = ENTRY_POINT_V08,
        gas_price_ttl: float = DEFAULT_GAS_PRICE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # The shell after this class in the MRO builds (or takes) the JSON-RPC client.
        super().__init__(  # type: ignore[call-arg]
            url, rpc=rpc, transport=transport, timeout=timeout, retry=retry, deadline=deadline
        )
        self.entry_point = _check_address(entry_point, "entry_point")
        self.gas_price_cache = GasPriceCache(gas_price_ttl, clock)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.rpc.url)!r}, entry_point={self.entry_point})"

    @flow_method
    def supported_entry_points(self) -> Flow[tuple[str, ...]]:
        """The EntryPoints the bundler serves (checksummed)."""
        result = yield from _request("eth_supportedEntryPoints", ())
        if not isinstance(result, list):
            raise MalformedRpcResponse(f"eth_supportedEntryPoints: expected a list, got {result!r:.100}")
        return tuple(parse_address(item, "entryPoint") for item in result)

    @flow_method
    def chain_id(self) -> Flow[int]:
        """The chain the bundler submits to."""
        result = yield from _request("eth_chainId", ())
        return parse_quantity(result, "eth_chainId")

    @flow_method
    def estimate_user_operation_gas(
        self, op: UserOperation, *, state_override: Mapping[str, Any] | None = None
    ) -> Flow[GasEstimate]:
        """Simulate ``op`` and return gas limits.

        The signature must be well-formed for the account's validator (a stub that makes validation *return*
        failure, not revert), or the simulation fails with AA23.

        Raises:
            UserOperationRejected: Simulation failed; the subclass and ``aa_code`` name the cause.
            UserOperationRejected (``USER_OPERATION_EXECUTION_REVERTED``): The call phase reverted.
        """
        params: list[Any] = [op.to_rpc(), self.entry_point]
        if state_override is not None:
            params.append(dict(state_override))
        result = parse_object(
            (yield from _request("eth_estimateUserOperationGas", params)), "eth_estimateUserOperationGas"
        )
        return GasEstimate(
            pre_verification_gas=parse_quantity(result.get("preVerificationGas"), "preVerificationGas"),
            verification_gas_limit=parse_quantity(result.get("verificationGasLimit"), "verificationGasLimit"),
            call_gas_limit=parse_quantity(result.get("callGasLimit"), "callGasLimit"),
            paymaster_verification_gas_limit=_optional_quantity(result, "paymasterVerificationGasLimit"),
            paymaster_post_op_gas_limit=_optional_quantity(result, "paymasterPostOpGasLimit"),
        )

    @flow_method
    def send_user_operation(self, op: UserOperation, *, chain_id: int | None = None) -> Flow[HexBytes]:
        """Submit a signed ``op``; returns its userOpHash.

        Re-sending the ``user_operation`` of a :class:`UserOperationOutcomeUnknown` through this method is the
        safe retry: a bundler that already has it answers "already known", which returns the same hash.

        Args:
            op: The signed UserOperation.
            chain_id: The chain the op is signed for; lets a lost answer be reported with the userOpHash
                without asking the (possibly dead) bundler for its chain id.

        Returns:
            The userOpHash.

        Raises:
            UserOperationRejected: The bundler refused it; the rule says why (``SIGNATURE_VALIDATION_FAILED``
                for a bad signature, ``INSUFFICIENT_PREFUND`` without funds, ...).
            UserOperationOutcomeUnknown: The request went out but no answer came back; the bundler may hold
                the op (carries ``user_op_hash`` and the signed ``user_operation``).
        """
        # sent=False: the send's own errors say whether the op left; an interrupt is noted either way.
        with after_send("UserOperation", _op_unknown(None, op), sent=False):
            return (yield from _BundlerMethods._send_user_operation.flow(self, op, chain_id))

    @flow_method
    def _send_user_operation(self, op: UserOperation, chain_id: int | None) -> Flow[HexBytes]:
        entry_point, gas_prices = self.entry_point, self.gas_price_cache
        lost: Exception
        try:
            result = yield from _request("eth_sendUserOperation", (op.to_rpc(), entry_point))
            return parse_hash(result, "userOpHash")
        except RpcTransportError as exc:
            if not exc.maybe_delivered:
                raise  # never reached the bundler: a plain re-send is the whole story
            lost = exc
        except MalformedRpcResponse as exc:
            lost = exc  # the bundler answered, but not with a hash: it may well hold the op
        except BundlerError as exc:
            # A retried send (the first answer was lost) finds the op already pooled: it was accepted, so
            # answer with its hash instead of failing.
            if "already known" not in exc.reason.lower():
                if gas_prices is not None:
                    gas_prices.clear()  # the refusal may be about fees; do not reuse them
                raise
            lost = exc
        # Sent, or maybe sent: from here on the error carries the op (and its hash, if it can be computed).
        user_op_hash: bytes | None = None
        if chain_id is None:
            try:
                chain_id = yield from _BundlerMethods.chain_id.flow(self)
            except (RpcTransportError, RpcError, MalformedRpcResponse):
                chain_id = None  # the hash needs the chain id and the bundler is gone
        if chain_id is not None:
            user_op_hash = user_operation_hash(op, entry_point=entry_point, chain_id=chain_id)
        if isinstance(lost, BundlerError) and user_op_hash is not None:
            return HexBytes(user_op_hash)
        shown = f"0x{user_op_hash.hex()}" if user_op_hash is not None else "(hash unknown: no chain id)"
        raise UserOperationOutcomeUnknown(
            f"eth_sendUserOperation for {shown} may have been delivered ({lost}); poll "
            "eth_getUserOperationReceipt for that hash or re-send exc.user_operation unchanged, "
            "do not sign again",
            user_op_hash=user_op_hash,
            user_operation=op,
            attempts=getattr(lost, "attempts", 1),
        ) from lost

    @flow_method
    def get_user_operation_receipt(self, user_op_hash: bytes) -> Flow[UserOperationReceipt | None]:
        """The receipt, or ``None`` while the op is pending or unknown."""
        result = yield from _request("eth_getUserOperationReceipt", ("0x" + bytes(user_op_hash).hex(),))
        return None if result is None else UserOperationReceipt.from_rpc(result)

    @flow_method
    def get_user_operation_by_hash(self, user_op_hash: bytes) -> Flow[dict[str, Any] | None]:
        """The op and where it was included, as the bundler reports it, or ``None``."""
        result = yield from _request("eth_getUserOperationByHash", ("0x" + bytes(user_op_hash).hex(),))
        return None if result is None else parse_object(result, "eth_getUserOperationByHash")

    @flow_method
    def get_user_operation_gas_price(self) -> Flow[GasPrices]:
        """Fees the bundler accepts (``pimlico_getUserOperationGasPrice``), reused for ``gas_price_ttl`` s.

        The bundler accepts a price it served recently, so a cached answer saves a round trip per operation;
        ``gas_price_cache.clear()`` forces a fresh one.
        """
        cache = self.gas_price_cache
        prices = cache.get()
        if prices is not None:
            return prices
        asked_at = cache.now()
        result = parse_object(
            (yield from _request("pimlico_getUserOperationGasPrice", ())), "pimlico_getUserOperationGasPrice"
        )
        prices = GasPrices(
            slow=_gas_price(result.get("slow"), "slow"),
            standard=_gas_price(result.get("standard"), "standard"),
            fast=_gas_price(result.get("fast"), "fast"),
        )
        cache.put(prices, asked_at)
        return prices

    @flow_method
    def wait_for_user_operation_receipt(
        self,
        user_op_hash: bytes,
        *,
        timeout: float = DEFAULT_USER_OP_TIMEOUT,
        poll_interval: float = _POLL_INTERVAL,
        check: bool = True,
        op: UserOperation | None = None,
    ) -> Flow[UserOperationReceipt]:
        """Poll until the op is included.

        Args:
            user_op_hash: The userOpHash.
            timeout: Seconds to wait.
            poll_interval: Seconds between polls.
            check: Raise :class:`UserOperationReverted` if the call phase failed.
            op: The signed op, if known: carried by the errors so that it can be re-sent, never re-signed.

        Raises:
            UserOperationTimeout: No receipt in time.
            UserOperationReverted: Included, but the call phase reverted (with ``check``).
            UserOperationOutcomeUnknown: The wait failed otherwise (a malformed receipt).
        """
        user_op_hash = bytes(user_op_hash)
        param = "0x" + user_op_hash.hex()
        what = f"UserOperation 0x{user_op_hash.hex()}"

        def request(bound: float) -> Flow[Any]:
            return (yield from _request("eth_getUserOperationReceipt", (param,), deadline=bound))

        def parse(result: object) -> UserOperationReceipt:
            receipt = UserOperationReceipt.from_rpc(result)
            if check and not receipt.success:
                raise UserOperationReverted(
                    f"{what} was included but its call phase reverted (reason 0x{receipt.reason.hex()})",
                    receipt=receipt,
                    user_op_hash=user_op_hash,
                    user_operation=op,
                )
            return receipt

        timed_out = functools.partial(
            UserOperationTimeout, user_op_hash=user_op_hash, timeout=timeout, user_operation=op
        )
        unknown = _op_unknown(user_op_hash, op)
        return (
            yield from poll(
                request, parse, what, timeout, poll_interval, unknown=unknown, timed_out=timed_out
            )
        )

    @flow_method
    def send_and_wait(
        self,
        op: UserOperation,
        *,
        timeout: float = DEFAULT_USER_OP_TIMEOUT,
        check: bool = True,
        chain_id: int | None = None,
    ) -> Flow[UserOperationReceipt]:
        """:meth:`send_user_operation` then :meth:`wait_for_user_operation_receipt`.

        Raises:
            UserOperationRejected: The bundler refused it (nothing was sent).
            UserOperationOutcomeUnknown: Sent (or maybe sent), then the answer or the wait failed; carries
                ``user_op_hash`` and the signed ``user_operation`` (:class:`UserOperationTimeout` when the
                wait ran out).
            UserOperationReverted: Included, but the call phase reverted (with ``check``); carries the hash
                and the op too.
        """
        user_op_hash = yield from _BundlerMethods.send_user_operation.flow(self, op, chain_id=chain_id)
        wait = _BundlerMethods.wait_for_user_operation_receipt.flow
        return (yield from wait(self, user_op_hash, timeout=timeout, check=check, op=op))


def _op_unknown(user_op_hash: bytes | None, op: UserOperation | None) -> Callable[[str], AfterSendError]:
    """The "outcome unknown" error of a sent UserOperation, for :func:`~sso_signer.rpc.after_send`."""
    return functools.partial(
        UserOperationOutcomeUnknown,
        user_op_hash=user_op_hash,
        user_operation=op,
        method="eth_getUserOperationReceipt",
    )


class BundlerClient(_BundlerMethods, RpcShell):
    __doc__ = _BundlerMethods.__doc__


class AsyncBundlerClient(_BundlerMethods, AsyncRpcShell):
    __doc__ = _BundlerMethods.__doc__
