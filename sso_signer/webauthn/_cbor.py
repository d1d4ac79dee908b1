"""Strict CBOR decoding on top of cbor2: one item, no truncation, no trailing bytes, no repeated map key,
typed errors."""

from __future__ import annotations

import io
from typing import Any

import cbor2

from sso_signer.exceptions import ErrorCode, InvalidCbor

__all__ = ["decode_prefix", "decode_strict", "encode"]

# Nesting deeper than this has no place in COSE keys, attestation objects or extensions.
_MAX_DEPTH = 16


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([level, *(max(_depth(k, level + 1), _depth(v, level + 1)) for k, v in value.items())])
    if isinstance(value, list | tuple):
        return max([level, *(_depth(v, level + 1) for v in value)])
    return level


def decode_prefix(data: bytes, *, field: str) -> tuple[Any, int]:
    """Decode the first CBOR item of ``data``.

    Args:
        data: The bytes; more may follow the item.
        field: Name of the field, used in error messages.

    Returns:
        The decoded item and the number of bytes it used.

    Raises:
        InvalidCbor (``TRUNCATED_CBOR``): If the item is cut short.
        InvalidCbor: If the bytes are not well-formed CBOR, nest too deeply, or a map repeats a key.
    """
    stream = io.BytesIO(bytes(data))
    try:
        # A repeated key is refused as py_webauthn refuses it: which copy counts would be the parser's choice
        # (cbor2 keeps the last, and 1 and True are one Python key).
        value = cbor2.CBORDecoder(stream, allow_duplicate_keys=False).decode()
    except cbor2.CBORDecodeEOF as exc:
        raise InvalidCbor(f"{field}: CBOR item is truncated", rule=ErrorCode.TRUNCATED_CBOR) from exc
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        if "duplicate map key" in str(exc).lower():
            raise InvalidCbor(f"{field}: a CBOR map repeats a map key") from exc
        # cbor2 surfaces some malformed inputs (bad tags, invalid UTF-8) as built-in errors.
        raise InvalidCbor(f"{field}: not well-formed CBOR ({type(exc).__name__})") from exc
    if _depth(value) > _MAX_DEPTH:
        raise InvalidCbor(f"{field}: CBOR nests deeper than {_MAX_DEPTH} levels")
    return value, stream.tell()


def decode_strict(data: bytes, *, field: str) -> Any:
    """Decode ``data`` as exactly one CBOR item.

    Raises:
        InvalidCbor (``TRUNCATED_CBOR``): If the item is cut short.
        InvalidCbor (``TRAILING_CBOR``): If bytes follow the item.
        InvalidCbor: If the bytes are not well-formed CBOR.
    """
    value, used = decode_prefix(data, field=field)
    if used != len(data):
        raise InvalidCbor(
            f"{field}: {len(data) - used} bytes follow the CBOR item", rule=ErrorCode.TRAILING_CBOR
        )
    return value


def encode(value: Any) -> bytes:
    """Encode with cbor2's canonical (deterministic) rules, as CTAP2 requires."""
    return cbor2.dumps(value, canonical=True)
