"""Field checks shared by the transaction model, CREATE2 and paymaster helpers.

They turn loosely typed user input into the canonical form the room stores (checksummed ``str`` addresses,
immutable ``bytes``, range-checked ``int``) or raise the typed error that names the field.
"""

from __future__ import annotations

from sso_signer._codec import classify_address_text
from sso_signer.exceptions import ErrorCode, InvalidEncoding, InvalidTransaction

__all__ = ["UINT256_MAX", "check_address", "check_bytes", "check_uint"]

UINT256_MAX = (1 << 256) - 1


def check_uint(value: object, *, field: str, minimum: int = 0, maximum: int = UINT256_MAX) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) in ``[minimum, maximum]``.

    Raises:
        InvalidTransaction (``INVALID_FIELD_TYPE``): If ``value`` is not an ``int``.
        InvalidTransaction (``INTEGER_OUT_OF_RANGE``): If it is outside the range.
    """
    # bool is an int subclass; True as a nonce is a bug, not a 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTransaction(
            f"{field}: expected int, got {type(value).__name__}", rule=ErrorCode.INVALID_FIELD_TYPE
        )
    if value < minimum or value > maximum:
        raise InvalidTransaction(
            f"{field}: {value} is outside [{minimum}, {maximum}]", rule=ErrorCode.INTEGER_OUT_OF_RANGE
        )
    return value


def check_bytes(value: object, *, field: str) -> bytes:
    """Return ``value`` as immutable ``bytes`` (``bytearray``/``memoryview`` are copied).

    Raises:
        InvalidTransaction (``INVALID_FIELD_TYPE``): If ``value`` is not bytes-like (hex text is refused:
            decode it first).
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise InvalidTransaction(
        f"{field}: expected bytes, got {type(value).__name__}", rule=ErrorCode.INVALID_FIELD_TYPE
    )


def check_address(value: object, *, field: str) -> str:
    """Return ``value`` as a checksummed address.

    All-lower or all-upper hex is accepted as is; mixed case must carry a valid EIP-55 checksum, since a
    wrong one usually means a typo.

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``value`` is not ``0x`` + 40 hex digits, or its mixed-case
            checksum is wrong.
    """
    if not isinstance(value, str):
        raise InvalidEncoding(
            f"{field}: expected 0x + 40 hex digits, got {value!r}", rule=ErrorCode.INVALID_ADDRESS
        )
    answer = classify_address_text(value)
    if answer is None:
        raise InvalidEncoding(
            f"{field}: expected 0x + 40 hex digits, got {value!r}", rule=ErrorCode.INVALID_ADDRESS
        )
    checksummed, case_ok = answer
    if not case_ok:
        raise InvalidEncoding(f"{field}: bad EIP-55 checksum in {value}", rule=ErrorCode.INVALID_ADDRESS)
    return checksummed
