"""An ERC-7677 paymaster service client (``pm_getPaymasterStubData``, ``pm_getPaymasterData``), sync, async.

A paymaster service answers twice for one UserOperation: first with *stub* paymaster fields, good enough for
the bundler to simulate and estimate gas (and possibly already final, ``isFinal``), then, once the gas limits
are set, with the *final* ``paymasterData`` (typically the sponsor's signature over the whole operation).
Both requests carry the unsigned operation, the EntryPoint, the chain id (0x-hex) and a context object the
service defines (a policy id, a campaign); the client passes the context through unchanged.

Every answer is checked before it touches a UserOperation (an object, a 20-byte ``paymaster``, bounded hex
``paymasterData``, uint128 gas limits, a boolean ``isFinal``, a ``sponsor`` of bounded strings), else
:class:`~sso_signer.exceptions.MalformedRpcResponse` (``MALFORMED_PAYMASTER_RESPONSE``), and must name a
paymaster the client is pinned to (``paymasters=``, else ``UNEXPECTED_PAYMASTER``). A JSON-RPC error from the
service is :class:`~sso_signer.exceptions.SponsorshipRefused` (``SPONSORSHIP_REFUSED`` when the service says
its policy refused, ``PAYMASTER_SERVICE_ERROR`` otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sso_signer._codec import hex_decode
from sso_signer._shell import flow_method
from sso_signer.erc4337._execute import Call, CallType, decode_execute
from sso_signer.erc4337._user_operation import ENTRY_POINT_V08, UserOperation, _check_address
from sso_signer.exceptions import (
    ErrorCode,
    InvalidEncoding,
    InvalidRpcParams,
    InvalidUserOperation,
    MalformedRpcResponse,
    RpcError,
    SponsorshipRefused,
)
from sso_signer.rpc import AsyncJsonRpcClient, Deadline, JsonRpcClient, RetryPolicy
from sso_signer.rpc._client import AsyncRpcShell, RpcShell, safe_url
from sso_signer.rpc._core import RpcCall
from sso_signer.rpc._flow import Flow

__all__ = [
    "MAX_PAYMASTER_DATA",
    "SPONSORSHIP_REFUSED_CODE",
    "AsyncPaymasterClient",
    "PaymasterClient",
    "PaymasterFields",
    "SponsorInfo",
    "SponsorshipPolicy",
]

STUB_METHOD: Final = "pm_getPaymasterStubData"
DATA_METHOD: Final = "pm_getPaymasterData"

SPONSORSHIP_REFUSED_CODE: Final = -32040
"""The JSON-RPC error code with which a service says "my policy refuses this operation" (the sponsor
service of :mod:`sso_signer.sponsor` uses it; other codes are service errors)."""

MAX_PAYMASTER_DATA: Final = 8 * 1024
"""Largest ``paymasterData`` accepted (bytes): real ones are a signature and a few words."""
_MAX_SPONSOR_NAME: Final = 256
_MAX_SPONSOR_ICON: Final = 64 * 1024  # a data URI of a small square image


class SponsorshipPolicy(Protocol):
    """Decides whether a UserOperation is sponsored: the reason to refuse it, or ``None`` to sponsor it.

    A plain function with this signature is a policy. It sees the whole unsigned operation (``op.sender``;
    its gas and fees: ``op.required_prefund`` is the most it can cost), the calls it runs (decoded from its
    ERC-7579 ``execute`` call data), the chain and the ERC-7677 context. It runs before the paymaster
    service is asked (in a :class:`PaymasterClient`) or before the sponsor signs (in the sponsor service),
    so a refusal costs no passkey prompt.
    """

    def __call__(
        self, op: UserOperation, /, *, calls: tuple[Call, ...], chain_id: int, context: Mapping[str, Any]
    ) -> str | None:
        """The refusal reason, or ``None`` to sponsor ``op``."""


@dataclass(frozen=True, slots=True)
class SponsorInfo:
    """Who sponsors the operation, as the service describes itself (ERC-7677 ``sponsor``).

    Attributes:
        name: The sponsor's name.
        icon: A data URI of its icon (RFC 2397), or ``None``.
    """

    name: str
    icon: str | None = None


@dataclass(frozen=True, slots=True)
class PaymasterFields:
    """A paymaster service's answer: the paymaster fields of a UserOperation.

    Attributes:
        paymaster: The paymaster contract (checksummed).
        paymaster_data: What follows the paymaster and its gas limits in ``paymasterAndData``.
        paymaster_verification_gas_limit: Gas for the paymaster's validation, if the service sets it.
        paymaster_post_op_gas_limit: Gas for its ``postOp``, if the service sets it (it pays for it, so a
            value it gives wins over the bundler's estimate).
        is_final: The stub is already final: ``pm_getPaymasterData`` need not be asked.
        sponsor: Who sponsors, if the service says.
    """

    paymaster: str
    paymaster_data: bytes
    paymaster_verification_gas_limit: int | None = None
    paymaster_post_op_gas_limit: int | None = None
    is_final: bool = False
    sponsor: SponsorInfo | None = None

    def apply(self, op: UserOperation) -> UserOperation:
        """``op`` with these paymaster fields (gas limits the service did not set are kept).

        Raises:
            InvalidUserOperation: If the result is malformed (it cannot be, for a parsed answer).
        """
        changes: dict[str, Any] = {"paymaster": self.paymaster, "paymaster_data": self.paymaster_data}
        if self.paymaster_verification_gas_limit is not None:
            changes["paymaster_verification_gas_limit"] = self.paymaster_verification_gas_limit
        if self.paymaster_post_op_gas_limit is not None:
            changes["paymaster_post_op_gas_limit"] = self.paymaster_post_op_gas_limit
        return op.replace(**changes)

    @classmethod
    def from_rpc(cls, method: str, result: object) -> PaymasterFields:
        """Parse and check a ``pm_getPaymasterStubData`` / ``pm_getPaymasterData`` result.

        Raises:
            MalformedRpcResponse (``MALFORMED_PAYMASTER_RESPONSE``): If a field is missing, malformed or
                out of range.
        """
        if not isinstance(result, Mapping):
            raise _malformed(method, f"expected an object, got {type(result).__name__}")
        data = result.get("paymasterData")
        if not isinstance(data, str):
            raise _malformed(method, f"paymasterData: expected 0x-hex, got {type(data).__name__}")
        if len(data) > 2 + 2 * MAX_PAYMASTER_DATA:
            raise _malformed(method, f"paymasterData is longer than {MAX_PAYMASTER_DATA} bytes")
        try:
            paymaster = _check_address(result.get("paymaster"), "paymaster")
            paymaster_data = hex_decode(data, field="paymasterData")
        except InvalidEncoding as exc:
            raise _malformed(method, str(exc)) from exc
        if int(paymaster, 16) == 0:
            raise _malformed(method, "paymaster is the zero address")
        is_final = result.get("isFinal", False)
        if not isinstance(is_final, bool):
            raise _malformed(method, f"isFinal: expected a boolean, got {is_final!r:.40}")
        return cls(
            paymaster=paymaster,
            paymaster_data=paymaster_data,
            paymaster_verification_gas_limit=_gas(method, result, "paymasterVerificationGasLimit"),
            paymaster_post_op_gas_limit=_gas(method, result, "paymasterPostOpGasLimit"),
            is_final=is_final,
            sponsor=_sponsor(method, result.get("sponsor")),
        )


def _malformed(method: str, detail: str) -> MalformedRpcResponse:
    return MalformedRpcResponse(f"{method}: {detail}", rule=ErrorCode.MALFORMED_PAYMASTER_RESPONSE)


def _gas(method: str, result: Mapping[str, Any], key: str) -> int | None:
    value = result.get(key)
    if value is None:
        return None
    # A uint128 is at most 32 hex digits: anything longer is refused before int() sees it.
    if not isinstance(value, str) or not value.startswith("0x") or not 2 < len(value) <= 2 + 32:
        raise _malformed(method, f"{key}: expected a 0x-hex uint128, got {value!r:.80}")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise _malformed(method, f"{key}: not hex: {value!r:.80}") from exc


def _sponsor(method: str, value: object) -> SponsorInfo | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _malformed(method, "sponsor: expected an object")
    name, icon = value.get("name"), value.get("icon")
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_SPONSOR_NAME:
        raise _malformed(method, f"sponsor.name: expected a string of 1..{_MAX_SPONSOR_NAME} characters")
    if icon is not None and (
        not isinstance(icon, str) or len(icon) > _MAX_SPONSOR_ICON or not icon.startswith("data:")
    ):
        raise _malformed(
            method, f"sponsor.icon: expected a data: URI of at most {_MAX_SPONSOR_ICON} characters"
        )
    return SponsorInfo(name=name, icon=icon)


# The refusal rules a service may name in its error's ``data.rule`` (a service error is not one of them).
_REFUSAL_RULES: Final = frozenset(SponsorshipRefused.rules) - {ErrorCode.PAYMASTER_SERVICE_ERROR}


def _refused(exc: RpcError) -> SponsorshipRefused:
    refused = exc.code == SPONSORSHIP_REFUSED_CODE
    rule = ErrorCode.SPONSORSHIP_REFUSED if refused else ErrorCode.PAYMASTER_SERVICE_ERROR
    named = exc.data.get("rule") if isinstance(exc.data, Mapping) else None
    if refused and isinstance(named, str) and named in _REFUSAL_RULES:
        rule = ErrorCode(
            named
        )  # the service's own rule (sso_signer.sponsor names it): an unknown one is ignored
    what = "refused to sponsor the operation" if refused else f"answered error {exc.code}"
    return SponsorshipRefused(
        f"paymaster service {what} ({exc.method}): {exc.rpc_message[:300]}",
        reason=exc.rpc_message[:300],
        code=exc.code,
        data=exc.data,
        rule=rule,
    )


def check_policy(
    policy: SponsorshipPolicy | None, op: UserOperation, chain_id: int, context: Mapping[str, Any]
) -> None:
    """Run ``policy`` on ``op``.

    Raises:
        SponsorshipRefused (``SPONSORSHIP_REFUSED``): If the policy gives a reason to refuse, or the call
            data is not an ``execute`` the policy can read (a delegatecall hides what runs: refused too).
        InvalidRpcParams: If the policy answers something other than ``None`` or a string.
    """
    if policy is None:
        return
    try:
        execution = decode_execute(op.call_data) if op.call_data else None
    except InvalidUserOperation as exc:
        message = f"the sponsorship policy cannot read the calls of {op.sender}: {exc}"
        raise _policy_refusal(message, "callData is not an ERC-7579 execute call") from exc
    # A delegatecall runs the target's code as the account: its calls and transfers are not in `calls`.
    if execution is not None and execution.call_type is CallType.DELEGATECALL:
        message = f"the operation of {op.sender} delegate-calls {execution.calls[0].target}"
        raise _policy_refusal(message, "delegatecall executions are not sponsored")
    calls = execution.calls if execution is not None else ()
    reason = policy(op, calls=calls, chain_id=chain_id, context=context)
    if reason is None:
        return
    if not isinstance(reason, str):
        raise InvalidRpcParams(
            f"a sponsorship policy returns a reason (str) or None, got {type(reason).__name__}"
        )
    raise _policy_refusal(f"the sponsorship policy refused the operation of {op.sender}: {reason}", reason)


def _policy_refusal(message: str, reason: str) -> SponsorshipRefused:
    return SponsorshipRefused(message, reason=reason, rule=ErrorCode.SPONSORSHIP_REFUSED)


class _PaymasterMethods:
    """An ERC-7677 paymaster service client (on :class:`AsyncPaymasterClient` the methods are awaitable).

    Args:
        url: The service's HTTP endpoint (or pass ``rpc=`` / ``transport=``).
        paymasters: The paymaster contract(s) the service may name (one address, or several); an answer
            naming another is refused before the operation is signed. Required: the passkey signs whatever
            paymaster a compromised service names, e.g. a token paymaster the account has approved.
        context: The ERC-7677 context object sent with every request unless a call gives its own (a policy
            id, ...); ``{}`` by default.
        policy: A local :class:`SponsorshipPolicy` run before each request: a refusal never reaches the
            service.
        rpc: An existing JSON-RPC client to share.
        transport: An httpx transport (fault injection in tests).
        timeout: Seconds per HTTP attempt.
        retry: Retry policy for transport failures (both methods are safe to repeat).
        deadline: Wall-clock bound of each call, attempts included.

    Raises:
        InvalidRpcParams: If ``context`` is not a mapping, or ``paymasters`` names no address or a
            malformed one.
    """

    rpc: Any

    def __init__(
        self,
        url: str | None = None,
        *,
        paymasters: str | Iterable[str],
        context: Mapping[str, Any] | None = None,
        policy: SponsorshipPolicy | None = None,
        rpc: JsonRpcClient | AsyncJsonRpcClient | None = None,
        transport: Any = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        deadline: Deadline = "auto",
    ) -> None:
        super().__init__(  # type: ignore[call-arg]
            url, rpc=rpc, transport=transport, timeout=timeout, retry=retry, deadline=deadline
        )
        self.context: Mapping[str, Any] = _context(context, {})
        self.policy = policy
        self.paymasters = _pinned(paymasters)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({safe_url(self.rpc.url)!r})"

    def _ask(
        self,
        method: str,
        op: UserOperation,
        entry_point: str,
        chain_id: int,
        context: Mapping[str, Any] | None,
    ) -> Flow[PaymasterFields]:
        context = _context(context, self.context)
        if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
            raise InvalidRpcParams(f"chain_id: expected a positive int, got {chain_id!r}")
        entry_point = _check_address(entry_point, "entry_point")
        check_policy(self.policy, op, chain_id, context)
        params = (op.to_rpc(), entry_point, hex(chain_id), dict(context))
        try:
            result = yield RpcCall(method, params, retry=True)
        except RpcError as exc:
            raise _refused(exc) from exc
        fields = PaymasterFields.from_rpc(method, result)
        if fields.paymaster not in self.paymasters:
            raise MalformedRpcResponse(
                f"{method} names paymaster {fields.paymaster}, not one this client is pinned to "
                f"({', '.join(sorted(self.paymasters))}): refused before anything is signed",
                rule=ErrorCode.UNEXPECTED_PAYMASTER,
            )
        return fields

    @flow_method
    def get_paymaster_stub_data(
        self,
        op: UserOperation,
        *,
        chain_id: int,
        entry_point: str = ENTRY_POINT_V08,
        context: Mapping[str, Any] | None = None,
    ) -> Flow[PaymasterFields]:
        """``pm_getPaymasterStubData``: paymaster fields for gas estimation (maybe already final).

        Args:
            op: The unsigned operation (fees set; gas limits may still be zero).
            chain_id: The chain it will run on.
            entry_point: The EntryPoint it goes through.
            context: The ERC-7677 context; default the client's.

        Returns:
            The stub fields (``is_final`` tells whether they are also the final ones).

        Raises:
            SponsorshipRefused: The local policy or the service refused, or the service answered an error.
            MalformedRpcResponse (``MALFORMED_PAYMASTER_RESPONSE``): The answer is malformed;
                (``UNEXPECTED_PAYMASTER``) it names a paymaster the client is not pinned to.
            RpcTransportError: The service could not be reached.
        """
        return (yield from self._ask(STUB_METHOD, op, entry_point, chain_id, context))

    @flow_method
    def get_paymaster_data(
        self,
        op: UserOperation,
        *,
        chain_id: int,
        entry_point: str = ENTRY_POINT_V08,
        context: Mapping[str, Any] | None = None,
    ) -> Flow[PaymasterFields]:
        """``pm_getPaymasterData``: the final paymaster fields for an operation whose gas is set.

        Args:
            op: The unsigned operation with its final gas limits, fees and paymaster gas limits (the
                service's approval covers them).
            chain_id, entry_point, context: As :meth:`get_paymaster_stub_data`.

        Returns:
            The final fields.

        Raises:
            As :meth:`get_paymaster_stub_data`.
        """
        return (yield from self._ask(DATA_METHOD, op, entry_point, chain_id, context))


def _context(value: Mapping[str, Any] | None, default: Mapping[str, Any]) -> Mapping[str, Any]:
    if value is None:
        return default
    if not isinstance(value, Mapping):
        raise InvalidRpcParams(f"context: expected a mapping (a JSON object), got {type(value).__name__}")
    return value


def _pinned(paymasters: str | Iterable[str]) -> frozenset[str]:
    """The checksummed pin set; empty is refused (it would trust no paymaster, never "any")."""
    if isinstance(paymasters, str):
        paymasters = (paymasters,)  # one address, not its characters
    try:
        pinned = frozenset(_check_address(address, "paymasters") for address in paymasters)
    except TypeError as exc:
        raise InvalidRpcParams(
            f"paymasters: expected an address or addresses, got {type(paymasters).__name__}"
        ) from exc
    except InvalidEncoding as exc:
        raise InvalidRpcParams(str(exc)) from exc
    if not pinned:
        raise InvalidRpcParams("paymasters: name the paymaster contract(s) the service may use")
    return pinned


class PaymasterClient(_PaymasterMethods, RpcShell):
    __doc__ = _PaymasterMethods.__doc__


class AsyncPaymasterClient(_PaymasterMethods, AsyncRpcShell):
    __doc__ = _PaymasterMethods.__doc__
