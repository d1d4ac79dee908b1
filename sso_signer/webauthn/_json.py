"""Helpers for reading browser PublicKeyCredential JSON with typed errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sso_signer._codec import b64url_decode
from sso_signer._json import JsonLimits, parse_json
from sso_signer.webauthn._errors import FieldTooLarge, InvalidCredentialJson, InvalidCredentialType

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
        FieldTooLarge: If the text exceeds MAX_CREDENTIAL_JSON.
        InvalidCredentialJson: If it is not a JSON object, or nests or counts beyond CREDENTIAL_JSON_LIMITS.
    """
    if isinstance(data, str | bytes):
        data = parse_json(
            data,
            limits=CREDENTIAL_JSON_LIMITS,
            error=InvalidCredentialJson,
            too_large=FieldTooLarge,
            what=f"{what} JSON",
        )
    if not isinstance(data, Mapping):
        raise InvalidCredentialJson(f"{what} must be a JSON object")
    return data


def b64_optional(obj: Mapping[str, Any], key: str, *, what: str) -> bytes | None:
    """Read an optional base64url member (absent or null gives None).

    Raises:
        InvalidCredentialJson: If it is not a string.
        InvalidEncoding: If it is not base64url.
    """
    if obj.get(key) is None:
        return None
    return b64_member(obj, key, what=what)


def b64_member(obj: Mapping[str, Any], key: str, *, what: str) -> bytes:
    """Read a required base64url member.

    Raises:
        InvalidCredentialJson: If it is missing or not a string.
        InvalidEncoding: If it is not base64url.
    """
    value = obj.get(key)
    if value is None:
        raise InvalidCredentialJson(f"{what} has no {key!r}")
    if not isinstance(value, str):
        raise InvalidCredentialJson(f"{what}.{key} must be a base64url string")
    if len(value) > MAX_CREDENTIAL_JSON:
        raise FieldTooLarge(f"{what}.{key} is too long")
    return b64url_decode(value, field=f"{what}.{key}")


def check_type(obj: Mapping[str, Any], *, what: str) -> None:
    """Require ``type == "public-key"``.

    Raises:
        InvalidCredentialType: If the type is anything else.
    """
    if obj.get("type") != "public-key":
        raise InvalidCredentialType(f"{what}.type must be 'public-key', got {obj.get('type')!r}")
