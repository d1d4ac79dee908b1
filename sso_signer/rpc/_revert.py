"""Decoding of revert data: ``Error(string)``, ``Panic(uint256)`` or a custom error (selector + raw bytes)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from sso_signer._codec import InvalidEncoding, hex_decode

__all__ = ["ERROR_SELECTOR", "PANIC_SELECTOR", "RevertData", "RevertKind", "revert_data_from_rpc_error"]

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # keccak("Error(string)")[:4]
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # keccak("Panic(uint256)")[:4]

# Solidity's panic codes, named so a failed assertion reads as such in logs.
_PANIC_NAMES = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array encoding",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function pointer",
}

_HEX_DATA = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")


class RevertKind(enum.Enum):
    """What revert data holds."""

    EMPTY = "empty"
    ERROR = "error"  # Error(string), from require(cond, "reason") / revert("reason")
    PANIC = "panic"  # Panic(uint256), from assert / arithmetic checks
    CUSTOM = "custom"  # a custom error: 4-byte selector + ABI-encoded arguments
    UNKNOWN = "unknown"  # fewer than 4 bytes, or an Error/Panic selector with a malformed body


@dataclass(frozen=True, slots=True)
class RevertData:
    """Revert data returned by a failed call, decoded where the format is known.

    Attributes:
        raw: The revert bytes exactly as the node returned them.
        kind: Which format the bytes are in.
        reason: The ``Error(string)`` message, if ``kind`` is ``ERROR``.
        panic_code: The ``Panic(uint256)`` code, if ``kind`` is ``PANIC``.
    """

    raw: bytes
    kind: RevertKind
    reason: str | None = None
    panic_code: int | None = None

    @property
    def selector(self) -> bytes | None:
        """The first four bytes (the error selector), or ``None`` if there are fewer."""
        return self.raw[:4] if len(self.raw) >= 4 else None

    @property
    def args(self) -> bytes:
        """The bytes after the selector (ABI-encoded error arguments)."""
        return self.raw[4:]

    @classmethod
    def decode(cls, raw: bytes) -> RevertData:
        """Decode revert bytes.

        Never raises: bytes that do not match their selector's format come back as ``UNKNOWN`` with
        ``raw`` intact, since revert data is whatever the contract chose to return.

        Args:
            raw: The revert bytes.

        Returns:
            The decoded revert data.
        """
        raw = bytes(raw)
        if not raw:
            return cls(raw, RevertKind.EMPTY)
        if len(raw) < 4:
            return cls(raw, RevertKind.UNKNOWN)
        selector, body = raw[:4], raw[4:]
        if selector == ERROR_SELECTOR:
            try:
                (reason,) = abi_decode(["string"], body, strict=True)
            except (DecodingError, UnicodeDecodeError, ValueError, OverflowError):
                return cls(raw, RevertKind.UNKNOWN)
            return cls(raw, RevertKind.ERROR, reason=str(reason))
        if selector == PANIC_SELECTOR:
            try:
                (code,) = abi_decode(["uint256"], body, strict=True)
            except (DecodingError, ValueError, OverflowError):
                return cls(raw, RevertKind.UNKNOWN)
            return cls(raw, RevertKind.PANIC, panic_code=int(code))
        return cls(raw, RevertKind.CUSTOM)

    def describe(self) -> str:
        """A one-line description: ``reverted: 'reason'``, ``panic 0x11 (...)``, ``custom error 0x…``."""
        if self.kind is RevertKind.ERROR:
            return f"reverted: {self.reason!r}"
        if self.kind is RevertKind.PANIC:
            code = self.panic_code if self.panic_code is not None else -1
            return f"panic 0x{code:02x} ({_PANIC_NAMES.get(code, 'unknown panic code')})"
        if self.kind is RevertKind.CUSTOM:
            return f"custom error 0x{self.raw[:4].hex()} with {len(self.raw) - 4} bytes of arguments"
        if self.kind is RevertKind.EMPTY:
            return "reverted without data"
        return f"reverted with undecodable data 0x{self.raw.hex()}"


def revert_data_from_rpc_error(data: object) -> RevertData | None:
    """Extract revert bytes from a JSON-RPC error's ``data`` member.

    Nodes differ: anvil and geth send ``"0x…"``; some send ``{"data": "0x…"}`` or nest it further.

    Args:
        data: The ``data`` member of the error object.

    Returns:
        The decoded revert data, or ``None`` if ``data`` holds no hex bytes.
    """
    for _ in range(3):  # bounded: the nesting seen in the wild is at most two levels
        if isinstance(data, dict):
            data = data.get("data", data.get("result"))
            continue
        break
    if isinstance(data, str) and _HEX_DATA.match(data):
        try:
            return RevertData.decode(hex_decode(data, field="error.data"))
        except InvalidEncoding:
            return None
    return None
