"""Decoding of revert data: ``Error(string)``, ``Panic(uint256)`` or a custom error.

Custom errors are named from every ABI the package ships (``sso_signer/artifacts/*.json``: the SSO
contracts and the OpenZeppelin/solady errors they declare) and from the EntryPoint v0.8's errors, so a
revert reads ``KeyNotFound("https://…", 0x…, 0x…)`` instead of a selector. Reverts nested in an error's
``bytes`` argument (``FailedOpWithRevert``'s ``inner``, ``PostOpReverted``) are decoded too. This is the one
decoder of the SDK: node errors, replayed transactions and bundler refusals all describe reverts with it.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from sso_signer._artifacts import ARTIFACTS_DIR, abi_type

__all__ = [
    "ERROR_SELECTOR",
    "PANIC_SELECTOR",
    "RevertData",
    "RevertKind",
    "describe_revert_in_text",
    "revert_data_from_rpc_error",
]

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
# Revert bytes quoted in a message (a bundler's "reason: 0x…"); at least a selector.
_HEX_IN_TEXT = re.compile(r"0x((?:[0-9a-fA-F]{2}){4,})")
# A revert inside a revert inside a revert is already unusual; the bound keeps hostile data cheap.
_MAX_NESTING = 4
# Long byte arguments are shown cut: a message line, not a dump.
_MAX_SHOWN_BYTES = 96
# Parameter names under which errors carry another contract's revert data.
_NESTED_PARAMS = frozenset({"inner", "returnData", "ret", "revertData", "reason", "result"})

#: The EntryPoint v0.8's custom errors (``@account-abstraction/contracts`` 0.8.0, the ABI the local stack
#: deploys); the package ships no EntryPoint artifact, so they are listed here (a test compares them).
_ENTRY_POINT_ERRORS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("DelegateAndRevert", (("bool", "success"), ("bytes", "ret"))),
    ("FailedOp", (("uint256", "opIndex"), ("string", "reason"))),
    ("FailedOpWithRevert", (("uint256", "opIndex"), ("string", "reason"), ("bytes", "inner"))),
    ("InvalidShortString", ()),
    ("PostOpReverted", (("bytes", "returnData"),)),
    ("ReentrancyGuardReentrantCall", ()),
    ("SenderAddressResult", (("address", "sender"),)),
    ("SignatureValidationFailed", (("address", "aggregator"),)),
    ("StringTooLong", (("string", "str"),)),
)


@dataclass(frozen=True, slots=True)
class _KnownError:
    name: str
    types: tuple[str, ...]
    params: tuple[str, ...]
    contract: str

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.types)})"


def _add(table: dict[bytes, _KnownError], entry: _KnownError) -> None:
    selector = bytes(keccak(text=entry.signature))[:4]
    table.setdefault(selector, entry)  # the first declaring contract names it; the signature is the same


@functools.lru_cache(maxsize=1)
def _known_errors() -> Mapping[bytes, _KnownError]:
    """Selector → error, from the EntryPoint's errors and every artifact in the package's ``artifacts/``."""
    table: dict[bytes, _KnownError] = {}
    for name, inputs in _ENTRY_POINT_ERRORS:
        _add(table, _KnownError(name, tuple(t for t, _ in inputs), tuple(n for _, n in inputs), "EntryPoint"))
    for path in sorted(ARTIFACTS_DIR.glob("*.json")):
        try:
            abi = json.loads(path.read_text()).get("abi", [])
            for entry in abi:
                if not isinstance(entry, dict) or entry.get("type") != "error":
                    continue
                inputs = entry.get("inputs", [])
                _add(
                    table,
                    _KnownError(
                        str(entry["name"]),
                        tuple(abi_type(p) for p in inputs),
                        tuple(str(p.get("name", "")) for p in inputs),
                        path.stem,
                    ),
                )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # an unreadable artifact names nothing; decoding must never fail because of it
    return table


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
        error_name: The custom error's name when a shipped ABI or the EntryPoint declares its selector.
        signature: Its canonical signature (``KeyNotFound(string,bytes,address)``).
        contract: The contract that declares it (the artifact name, or ``EntryPoint``).
        arguments: Its decoded arguments; a ``bytes`` argument holding a known nested revert is a
            :class:`RevertData`. Empty when the arguments do not decode (cut or malformed data).
    """

    raw: bytes
    kind: RevertKind
    reason: str | None = None
    panic_code: int | None = None
    error_name: str | None = None
    signature: str | None = None
    contract: str | None = None
    arguments: tuple[Any, ...] = ()

    @property
    def selector(self) -> bytes | None:
        """The first four bytes (the error selector), or ``None`` if there are fewer."""
        return self.raw[:4] if len(self.raw) >= 4 else None

    @property
    def args(self) -> bytes:
        """The bytes after the selector (ABI-encoded error arguments)."""
        return self.raw[4:]

    @property
    def decoded(self) -> bool:
        """Whether the data was understood: a reason, a panic code or a known custom error."""
        return self.kind in (RevertKind.ERROR, RevertKind.PANIC) or self.error_name is not None

    @classmethod
    def decode(cls, raw: bytes) -> RevertData:
        """Decode revert bytes.

        Never raises: bytes that do not match their selector's format come back as ``UNKNOWN`` (or as a
        named custom error without arguments) with ``raw`` intact, since revert data is whatever the
        contract chose to return.

        Args:
            raw: The revert bytes.

        Returns:
            The decoded revert data.
        """
        return _decode(bytes(raw), 0)

    def describe(self) -> str:
        """A one-line description: ``reverted: 'reason'``, ``panic 0x11 (...)``, ``KeyNotFound("…", 0x…)``."""
        if self.kind is RevertKind.ERROR:
            return f"reverted: {self.reason!r}"
        if self.kind is RevertKind.PANIC:
            code = self.panic_code if self.panic_code is not None else -1
            return f"panic 0x{code:02x} ({_PANIC_NAMES.get(code, 'unknown panic code')})"
        if self.kind is RevertKind.CUSTOM:
            if self.error_name is not None:
                if self.arguments or self.signature is None or self.signature.endswith("()"):
                    return f"{self.error_name}({', '.join(_show(v) for v in self.arguments)})"
                return f"{self.error_name}(undecodable arguments 0x{_cut(self.raw[4:])})"
            return f"custom error 0x{self.raw[:4].hex()} with {len(self.raw) - 4} bytes of arguments"
        if self.kind is RevertKind.EMPTY:
            return "reverted without data"
        return f"reverted with undecodable data 0x{self.raw.hex()}"


def _decode(raw: bytes, depth: int) -> RevertData:
    if not raw:
        return RevertData(raw, RevertKind.EMPTY)
    if len(raw) < 4:
        return RevertData(raw, RevertKind.UNKNOWN)
    selector, body = raw[:4], raw[4:]
    if selector in (ERROR_SELECTOR, PANIC_SELECTOR):
        is_error = selector == ERROR_SELECTOR
        try:
            (value,) = abi_decode(["string" if is_error else "uint256"], body, strict=True)
        except (DecodingError, UnicodeDecodeError, ValueError, OverflowError):
            return RevertData(raw, RevertKind.UNKNOWN)
        if is_error:
            return RevertData(raw, RevertKind.ERROR, reason=str(value))
        return RevertData(raw, RevertKind.PANIC, panic_code=int(value))
    known = _known_errors().get(selector)
    if known is None:
        return RevertData(raw, RevertKind.CUSTOM)
    arguments: tuple[Any, ...] = ()
    try:
        arguments = tuple(abi_decode(list(known.types), body))
    except (DecodingError, UnicodeDecodeError, ValueError, OverflowError, TypeError):
        arguments = ()  # cut short (bundlers truncate) or malformed: still named
    if depth < _MAX_NESTING and arguments:
        arguments = tuple(
            _nested(value, depth) if kind == "bytes" and name in _NESTED_PARAMS else value
            for value, kind, name in zip(arguments, known.types, known.params, strict=True)
        )
    return RevertData(
        raw,
        RevertKind.CUSTOM,
        error_name=known.name,
        signature=known.signature,
        contract=known.contract,
        arguments=arguments,
    )


def _nested(value: Any, depth: int) -> Any:
    inner = _decode(bytes(value), depth + 1)
    return inner if inner.decoded else value


def _cut(data: bytes) -> str:
    text = data[:_MAX_SHOWN_BYTES].hex()
    return text + "…" if len(data) > _MAX_SHOWN_BYTES else text


def _show(value: Any) -> str:
    if isinstance(value, RevertData):
        return value.describe()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return "0x" + _cut(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def describe_revert_in_text(text: str) -> str | None:
    """Describe the revert bytes quoted in a message (a bundler's ``reason: 0x…``), if they are known.

    Args:
        text: A message that may quote revert data as ``0x``-hex.

    Returns:
        The description of the first quoted revert that decodes (a reason, a panic or a known error),
        else ``None``: unknown selectors are not guessed at.
    """
    for match in _HEX_IN_TEXT.finditer(text):
        revert = RevertData.decode(bytes.fromhex(match.group(1)))
        if revert.decoded:
            return revert.describe()
    return None


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
    if isinstance(data, str) and _HEX_DATA.match(data):
        return RevertData.decode(bytes.fromhex(data[2:]))
    return None
