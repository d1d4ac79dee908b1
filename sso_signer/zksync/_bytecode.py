"""EraVM bytecode hashes: the 32-byte identifiers of factory deps and of CREATE2 code.

Format (version 1, EraVM): ``0x01 0x00 || uint16_be(len(bytecode) / 32) || sha256(bytecode)[4:]``.
The word count lives in 16 bits and EraVM requires it to be odd, so a bytecode is valid only if its length
is a multiple of 32, its word count is odd (zero is even) and below 2**16.
"""

from __future__ import annotations

import hashlib

from sso_signer.exceptions import ErrorCode, InvalidBytecode
from sso_signer.zksync._checks import check_bytes

#: Largest word count a version-1 bytecode hash can carry (the count must be odd, so this is reachable).
MAX_BYTECODE_WORDS = (1 << 16) - 1
_VERSION_ERAVM = b"\x01\x00"


def bytecode_hash(bytecode: bytes) -> bytes:
    """Compute the EraVM (version 1) bytecode hash used for factory deps and CREATE2.

    Args:
        bytecode: The raw EraVM bytecode (as zksolc emits it).

    Returns:
        The 32-byte hash ``0x0100 || uint16_be(words) || sha256(bytecode)[4:]``.

    Raises:
        InvalidTransaction (``INVALID_FIELD_TYPE``): If ``bytecode`` is not bytes-like.
        InvalidBytecode (``BYTECODE_NOT_WORD_ALIGNED``): If the length is not a multiple of 32.
        InvalidBytecode (``BYTECODE_TOO_LONG``): If the word count is 2**16 or more.
        InvalidBytecode (``BYTECODE_EVEN_WORD_COUNT``): If the word count is even (including an empty
            bytecode).
    """
    code = check_bytes(bytecode, field="bytecode")
    if len(code) % 32:
        raise InvalidBytecode(
            f"bytecode: length {len(code)} is not a multiple of 32 bytes",
            rule=ErrorCode.BYTECODE_NOT_WORD_ALIGNED,
        )
    words = len(code) // 32
    if words > MAX_BYTECODE_WORDS:
        raise InvalidBytecode(
            f"bytecode: {words} words, at most {MAX_BYTECODE_WORDS} fit in the hash",
            rule=ErrorCode.BYTECODE_TOO_LONG,
        )
    if words % 2 == 0:
        raise InvalidBytecode(
            f"bytecode: {words} words, EraVM requires an odd word count",
            rule=ErrorCode.BYTECODE_EVEN_WORD_COUNT,
        )
    return _VERSION_ERAVM + words.to_bytes(2, "big") + hashlib.sha256(code).digest()[4:]


def validate_bytecode_hash(value: bytes) -> bytes:
    """Check that ``value`` looks like an EraVM bytecode hash (version byte, odd non-zero word count).

    Args:
        value: A 32-byte bytecode hash, e.g. read from a factory's ``beaconProxyBytecodeHash()``.

    Returns:
        ``value`` as ``bytes``.

    Raises:
        InvalidTransaction (``INVALID_FIELD_TYPE``): If ``value`` is not bytes-like.
        InvalidBytecode (``INVALID_BYTECODE_HASH``): If it is not 32 bytes, not version ``0x0100``, or its
            word count is even.
    """
    data = check_bytes(value, field="bytecode_hash")
    if len(data) != 32:
        raise InvalidBytecode(
            f"bytecode_hash: expected 32 bytes, got {len(data)}", rule=ErrorCode.INVALID_BYTECODE_HASH
        )
    if data[:2] != _VERSION_ERAVM:
        raise InvalidBytecode(
            f"bytecode_hash: version header {data[:2].hex()} is not EraVM 0100",
            rule=ErrorCode.INVALID_BYTECODE_HASH,
        )
    words = int.from_bytes(data[2:4], "big")
    if words % 2 == 0:
        raise InvalidBytecode(
            f"bytecode_hash: word count {words} is even", rule=ErrorCode.INVALID_BYTECODE_HASH
        )
    return data
