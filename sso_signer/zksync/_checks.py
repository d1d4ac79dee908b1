"""Field checks shared by the transaction model, CREATE2 and paymaster helpers.

They turn loosely typed user input into the canonical form the room stores (checksummed ``str`` addresses,
immutable ``bytes``, range-checked ``int``) or raise the typed error that names the field.
"""

from __future__ import annotations

from sso_signer._codec import checksum_address as check_address
from sso_signer.exceptions import ErrorCode, InvalidTransaction

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
