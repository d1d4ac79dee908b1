"""ERC-7579 ``execute(bytes32 mode, bytes executionCalldata)`` calldata, as the SSO modular account reads it.

``mode[0]`` is the call type (single ``0x00``, batch ``0x01``, delegatecall ``0xff``), ``mode[1]`` the exec
type (``0x00`` revert on failure, ``0x01`` try and emit), the other 30 bytes are zero. Single calls are packed
``target ‖ uint256 value ‖ data``; batches are ``abi.encode((address,uint256,bytes)[])``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address

from sso_signer._codec import hex_decode
from sso_signer.erc4337._user_operation import _check_address, _check_uint
from sso_signer.exceptions import ErrorCode, InvalidEncoding, InvalidUserOperation

__all__ = [
    "EXECUTE_SELECTOR",
    "Call",
    "CallType",
    "ExecType",
    "ExecuteCall",
    "decode_execute",
    "encode_execute",
    "encode_execute_batch",
    "encode_execute_delegatecall",
    "encode_execute_single",
    "execution_mode",
]

EXECUTE_SELECTOR: Final = bytes.fromhex("e9ae5c53")
"""Selector of ``execute(bytes32,bytes)``."""

_U256: Final = (1 << 256) - 1


class CallType(enum.IntEnum):
    """ERC-7579 call types the SSO account supports."""

    SINGLE = 0x00
    BATCH = 0x01
    DELEGATECALL = 0xFF


class ExecType(enum.IntEnum):
    """ERC-7579 exec types: revert the whole execute on failure, or try and emit on failure."""

    DEFAULT = 0x00
    TRY = 0x01


@dataclass(frozen=True, slots=True)
class Call:
    """One call of an execution: ``target``, ``value`` (wei) and ``data``.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``target`` is not an address.
        InvalidUserOperation (``FIELD_OUT_OF_RANGE``): If ``value`` is not a uint256.
    """

    target: str
    value: int = 0
    data: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", _check_address(self.target, "target"))
        _check_uint(self.value, _U256, "value")
        if not isinstance(self.data, bytes | bytearray):
            raise InvalidUserOperation(
                f"data: expected bytes, got {type(self.data).__name__}",
                rule=ErrorCode.INVALID_EXECUTE_CALLDATA,
            )
        object.__setattr__(self, "data", bytes(self.data))


@dataclass(frozen=True, slots=True)
class ExecuteCall:
    """A decoded ``execute`` call: its mode and the calls it runs (one for single/delegatecall)."""

    call_type: CallType
    exec_type: ExecType
    calls: tuple[Call, ...]


def execution_mode(call_type: CallType, exec_type: ExecType = ExecType.DEFAULT) -> bytes:
    """The 32-byte ERC-7579 mode: ``callType ‖ execType ‖ 30 zero bytes``."""
    return bytes([call_type, exec_type]) + bytes(30)


def _as_call(item: Call | tuple[str, int, bytes] | Sequence[object]) -> Call:
    if isinstance(item, Call):
        return item
    try:
        target, value, data = item
    except (TypeError, ValueError) as exc:
        raise InvalidUserOperation(
            f"expected a Call or (target, value, data), got {item!r}", rule=ErrorCode.INVALID_EXECUTE_CALLDATA
        ) from exc
    return Call(target, value, data)  # type: ignore[arg-type]


def encode_execute_single(
    target: str, value: int = 0, data: bytes = b"", *, exec_type: ExecType = ExecType.DEFAULT
) -> bytes:
    """Calldata of ``execute`` running one call.

    Args:
        target: The called address.
        value: Wei sent along.
        data: The call's calldata.
        exec_type: Revert on failure (default) or try.

    Returns:
        ``0xe9ae5c53 ‖ abi.encode(mode, abi.encodePacked(target, value, data))``.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``target`` is not an address.
        InvalidUserOperation (``FIELD_OUT_OF_RANGE``): If ``value`` is not a uint256.
    """
    call = Call(target, value, data)
    packed = hex_decode(call.target, length=20) + call.value.to_bytes(32, "big") + call.data
    mode = execution_mode(CallType.SINGLE, exec_type)
    return EXECUTE_SELECTOR + abi_encode(["bytes32", "bytes"], [mode, packed])


def encode_execute_batch(
    calls: Iterable[Call | tuple[str, int, bytes]], *, exec_type: ExecType = ExecType.DEFAULT
) -> bytes:
    """Calldata of ``execute`` running a batch of calls in order.

    Args:
        calls: :class:`Call` objects or ``(target, value, data)`` tuples; at least one.
        exec_type: Revert on failure (default) or try each call.

    Returns:
        ``0xe9ae5c53 ‖ abi.encode(mode, abi.encode((address,uint256,bytes)[]))``.

    Raises:
        InvalidUserOperation (``INVALID_EXECUTE_CALLDATA``): If ``calls`` is empty or an item is not a call.
        InvalidEncoding (``INVALID_ADDRESS``), InvalidUserOperation (``FIELD_OUT_OF_RANGE``): If a call's
            target or value is invalid.
    """
    checked = [_as_call(c) for c in calls]
    if not checked:
        raise InvalidUserOperation("a batch needs at least one call", rule=ErrorCode.INVALID_EXECUTE_CALLDATA)
    inner = abi_encode(["(address,uint256,bytes)[]"], [[(c.target, c.value, c.data) for c in checked]])
    mode = execution_mode(CallType.BATCH, exec_type)
    return EXECUTE_SELECTOR + abi_encode(["bytes32", "bytes"], [mode, inner])


def encode_execute_delegatecall(target: str, data: bytes, *, exec_type: ExecType = ExecType.DEFAULT) -> bytes:
    """Calldata of ``execute`` delegate-calling ``target`` (``abi.encodePacked(target, data)``).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``target`` is not an address.
    """
    call = Call(target, 0, data)
    packed = hex_decode(call.target, length=20) + call.data
    return EXECUTE_SELECTOR + abi_encode(
        ["bytes32", "bytes"], [execution_mode(CallType.DELEGATECALL, exec_type), packed]
    )


def encode_execute(calls: Sequence[Call | tuple[str, int, bytes]]) -> bytes:
    """Single mode for one call, batch mode otherwise (what the official Rust core does).

    Raises:
        InvalidUserOperation (``INVALID_EXECUTE_CALLDATA``): If ``calls`` is empty.
    """
    checked = [_as_call(c) for c in calls]
    if len(checked) == 1:
        return encode_execute_single(checked[0].target, checked[0].value, checked[0].data)
    return encode_execute_batch(checked)


def decode_execute(calldata: bytes) -> ExecuteCall:
    """Decode ``execute(bytes32,bytes)`` calldata.

    Args:
        calldata: The full calldata, selector included.

    Returns:
        The mode and calls.

    Raises:
        InvalidUserOperation (``INVALID_EXECUTE_CALLDATA``): If the selector, mode or layout is not one the
            SSO account accepts.
    """
    if calldata[:4] != EXECUTE_SELECTOR:
        raise InvalidUserOperation(
            f"selector {calldata[:4].hex()} is not execute(bytes32,bytes)",
            rule=ErrorCode.INVALID_EXECUTE_CALLDATA,
        )
    try:
        mode, inner = abi_decode(["bytes32", "bytes"], calldata[4:], strict=False)
    except (DecodingError, OverflowError) as exc:  # OverflowError: a length word past any buffer size
        raise InvalidUserOperation(
            f"execute arguments do not decode: {exc}", rule=ErrorCode.INVALID_EXECUTE_CALLDATA
        ) from exc
    try:
        call_type = CallType(mode[0])
        exec_type = ExecType(mode[1])
    except ValueError as exc:
        raise InvalidUserOperation(
            f"unsupported mode {mode.hex()}", rule=ErrorCode.INVALID_EXECUTE_CALLDATA
        ) from exc
    if any(mode[2:]):
        raise InvalidUserOperation(
            f"mode bytes 2..31 must be zero, got {mode.hex()}", rule=ErrorCode.INVALID_EXECUTE_CALLDATA
        )
    # Every failure below is re-raised with the rule INVALID_EXECUTE_CALLDATA.
    try:
        if call_type is CallType.BATCH:
            try:
                (items,) = abi_decode(["(address,uint256,bytes)[]"], inner, strict=False)
            except (DecodingError, OverflowError) as exc:
                raise InvalidUserOperation(f"batch execution does not decode: {exc}") from exc
            calls = tuple(Call(t, v, d) for t, v, d in items)
        else:
            # single: target ‖ uint256 value ‖ data; delegatecall: target ‖ data
            start = 52 if call_type is CallType.SINGLE else 20
            if len(inner) < start:
                kind = call_type.name.lower()
                raise InvalidUserOperation(f"{kind} execution is {len(inner)} bytes, need at least {start}")
            value = int.from_bytes(inner[20:start], "big")
            calls = (Call(to_checksum_address(inner[:20]), value, inner[start:]),)
    except (InvalidEncoding, InvalidUserOperation) as exc:
        raise InvalidUserOperation(str(exc), rule=ErrorCode.INVALID_EXECUTE_CALLDATA) from exc
    return ExecuteCall(call_type, exec_type, calls)
