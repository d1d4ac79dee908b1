"""Helpers for reading browser PublicKeyCredential JSON with typed errors."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sso_signer._codec import b64url_decode
from sso_signer._json import JsonLimits, parse_json
from sso_signer.exceptions import ErrorCode, InvalidEncoding, InvalidWebAuthnData

__all__ = [
    "CREDENTIAL_JSON_LIMITS",
    "MAX_CREDENTIAL_JSON",
    "as_mapping",
    "b64_member",
    "b64_optional",
    "check_type",
]

# A registration response with a long attestation certificate chain stays well under this.
MAX_CREDENTIAL_JSON = 64 * 1024
#: Browser credential JSON nests 3-4 levels (response, clientExtensionResults, credProps); its only numbers
#: are small (publicKeyAlgorithm), extensions aside: integers get room past uint256, not thousands of digits.
CREDENTIAL_JSON_LIMITS = JsonLimits(max_bytes=MAX_CREDENTIAL_JSON, max_depth=32, max_int_digits=100)


def as_mapping(data: Mapping[str, Any] | str | bytes, *, what: str) -> Mapping[str, Any]:
    """Accept a parsed JSON object or its text.

    Raises:
        InvalidEncoding (``FIELD_TOO_LARGE``): If the text exceeds MAX_CREDENTIAL_JSON.
        InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If it is not a JSON object, or nests or counts
            beyond CREDENTIAL_JSON_LIMITS.
    """
    if isinstance(data, str | bytes):
        data = parse_json(
            data,
            limits=CREDENTIAL_JSON_LIMITS,
            error=functools.partial(InvalidWebAuthnData, rule=ErrorCode.INVALID_CREDENTIAL_JSON),
            too_large=functools.partial(InvalidEncoding, rule=ErrorCode.FIELD_TOO_LARGE),
            what=f"{what} JSON",
        )
    if not isinstance(data, Mapping):
        raise InvalidWebAuthnData(f"{what} must be a JSON object", rule=ErrorCode.INVALID_CREDENTIAL_JSON)
    return data


def b64_optional(obj: Mapping[str, Any], key: str, *, what: str) -> bytes | None:
    """Read an optional base64url member (absent or null gives None).

    Raises:
        InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If it is not a string.
        InvalidEncoding: If it is not base64url.
    """
    if obj.get(key) is None:
        return None
    return b64_member(obj, key, what=what)


def b64_member(obj: Mapping[str, Any], key: str, *, what: str) -> bytes:
    """Read a required base64url member.

    Raises:
        InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If it is missing or not a string.
        InvalidEncoding: If it is not base64url.
    """
    value = obj.get(key)
    if value is None:
        raise InvalidWebAuthnData(f"{what} has no {key!r}", rule=ErrorCode.INVALID_CREDENTIAL_JSON)
    if not isinstance(value, str):
        raise InvalidWebAuthnData(
            f"{what}.{key} must be a base64url string", rule=ErrorCode.INVALID_CREDENTIAL_JSON
        )
    if len(value) > MAX_CREDENTIAL_JSON:
        raise InvalidEncoding(f"{what}.{key} is too long", rule=ErrorCode.FIELD_TOO_LARGE)
    return b64url_decode(value, field=f"{what}.{key}")


def check_type(obj: Mapping[str, Any], *, what: str) -> None:
    """Require ``type == "public-key"``.

    Raises:
        InvalidWebAuthnData (``INVALID_CREDENTIAL_TYPE``): If the type is anything else.
    """
    if obj.get("type") != "public-key":
        raise InvalidWebAuthnData(
            f"{what}.type must be 'public-key', got {obj.get('type')!r}",
            rule=ErrorCode.INVALID_CREDENTIAL_TYPE,
        )
