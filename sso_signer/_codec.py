"""Byte/text codecs shared by every room: base64url, hex and addresses.

WebAuthn moves bytes as unpadded base64url; Ethereum moves them as 0x-hex. Both are decoded strictly here so a
malformed value fails at the boundary with :class:`InvalidEncoding` naming the field, instead of deep inside.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re

from eth_utils.address import to_checksum_address

from sso_signer.exceptions import ErrorCode, InvalidEncoding

__all__ = [
    "b64url_decode",
    "b64url_encode",
    "checksum_address",
    "classify_address_text",
    "hex_decode",
    "hex_encode",
]

_B64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")
_HEX = re.compile(r"^(0x|0X)?[0-9a-fA-F]*$")
_ADDRESS_TEXT = re.compile(r"^0[xX][0-9a-fA-F]{40}$")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url, the form WebAuthn uses on the wire.

    Args:
        data: The bytes to encode.

    Returns:
        The base64url text without ``=`` padding.
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes, *, field: str = "value") -> bytes:
    """Decode base64url text, padded or not, rejecting any other alphabet.

    Args:
        text: The base64url text.
        field: Name of the field being decoded, used in the error message.

    Returns:
        The decoded bytes.

    Raises:
        InvalidEncoding: If ``text`` is not base64url (wrong alphabet, impossible length, non-zero pad bits).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as exc:
            raise InvalidEncoding(f"{field}: base64url must be ASCII") from exc
    if not isinstance(text, str):
        raise InvalidEncoding(f"{field}: expected base64url text, got {type(text).__name__}")
    if not _B64URL.fullmatch(text):
        raise InvalidEncoding(f"{field}: not base64url (alphabet is A-Z a-z 0-9 - _)")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise InvalidEncoding(f"{field}: impossible base64url length {len(stripped)}")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        decoded = base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEncoding(f"{field}: not base64url ({exc})") from exc
    if b64url_encode(decoded) != stripped:
        # Non-zero trailing bits: two texts would decode to the same bytes. Reject to keep one canonical form.
        raise InvalidEncoding(f"{field}: non-canonical base64url (trailing bits set)")
    return decoded


def hex_encode(data: bytes) -> str:
    """Encode bytes as lower-case ``0x``-prefixed hex."""
    return "0x" + data.hex()


def hex_decode(text: str, *, field: str = "value", length: int | None = None) -> bytes:
    """Decode ``0x``-prefixed (or bare) hex text.

    Args:
        text: The hex text.
        field: Name of the field being decoded, used in the error message.
        length: If given, the exact number of bytes required.

    Returns:
        The decoded bytes.

    Raises:
        InvalidEncoding: If ``text`` is not hex, has an odd number of digits, or the wrong length.
    """
    if not isinstance(text, str) or not _HEX.fullmatch(text):
        raise InvalidEncoding(f"{field}: not hex text")
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) % 2:
        raise InvalidEncoding(f"{field}: odd number of hex digits")
    data = bytes.fromhex(digits)
    if length is not None and len(data) != length:
        raise InvalidEncoding(f"{field}: expected {length} bytes, got {len(data)}")
    return data


@functools.lru_cache(maxsize=4096)
def classify_address_text(text: str) -> tuple[str, bool] | None:
    """Classify ``0x`` (or ``0X``) + 40 hex digits as an address, once per distinct text.

    EIP-55 costs a keccak, and signers and transaction builders check the same few addresses over and over,
    so the answer is cached by text. Each room turns the answer into its own typed error.

    Args:
        text: The candidate address text.

    Returns:
        ``None`` if ``text`` is not ``0x``/``0X`` + 40 hex digits; otherwise ``(checksummed, case_ok)`` where
        ``case_ok`` is false for mixed-case digits that are not the EIP-55 checksum (a typo, not a style).
    """
    if not _ADDRESS_TEXT.fullmatch(text):
        return None
    checksummed = str(to_checksum_address("0x" + text[2:]))
    digits = text[2:]
    case_ok = digits in (digits.lower(), digits.upper(), checksummed[2:])
    return checksummed, case_ok


def checksum_address(value: object, *, field: str = "address") -> str:
    """Validate ``0x`` + 40 hex digits and return the EIP-55 checksummed address.

    All-lower or all-upper digits are accepted as is; mixed case must be the EIP-55 checksum (a wrong one is a
    typo, not a style).

    Raises:
        InvalidEncoding (``INVALID_ADDRESS``): If ``value`` is not such text, or its mixed case is not the
            checksum.
    """
    answer = classify_address_text(value) if isinstance(value, str) else None
    if answer is None:
        raise InvalidEncoding(
            f"{field}: expected 0x + 40 hex digits, got {value!r}", rule=ErrorCode.INVALID_ADDRESS
        )
    checksummed, case_ok = answer
    if not case_ok:
        raise InvalidEncoding(f"{field}: bad EIP-55 checksum in {value}", rule=ErrorCode.INVALID_ADDRESS)
    return checksummed
