"""Helpers for reading browser PublicKeyCredential JSON with typed errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer._json import JsonLimits, parse_json
from sso_signer.webauthn._authenticator_data import check_credential_id
from sso_signer.webauthn._errors import (
    CredentialIdMismatch,
    FieldTooLarge,
    InvalidCredentialJson,
    InvalidCredentialType,
)

__all__ = [
    "CREDENTIAL_JSON_LIMITS",
    "MAX_CREDENTIAL_JSON",
    "b64_member",
    "b64_optional",
    "read_credential",
    "write_credential",
]

# A registration response with a long attestation certificate chain stays well under this.
MAX_CREDENTIAL_JSON = 64 * 1024
#: Browser credential JSON nests 3-4 levels (response, clientExtensionResults, credProps); its only numbers
#: are small (publicKeyAlgorithm), extensions aside: integers get room past uint256, not thousands of digits.
CREDENTIAL_JSON_LIMITS = JsonLimits(max_bytes=MAX_CREDENTIAL_JSON, max_depth=32, max_int_digits=100)


def read_credential(
    data: Mapping[str, Any] | str | bytes, *, what: str
) -> tuple[Mapping[str, Any], bytes, Mapping[str, Any]]:
    """Read what both ceremonies' PublicKeyCredential JSON share: the object, its id and its response.

    Args:
        data: The object or its JSON text.
        what: ``"registration"`` or ``"assertion"``, for the messages.

    Returns:
        The object, the raw credential id and the ``response`` member.

    Raises:
        FieldTooLarge: If the text exceeds MAX_CREDENTIAL_JSON or the id WebAuthn's 1023 bytes.
        InvalidCredentialJson: If it is not a JSON object (within CREDENTIAL_JSON_LIMITS), or ``id`` or
            ``response`` is missing, empty or mistyped.
        InvalidCredentialType: If ``type`` is not ``public-key``.
        CredentialIdMismatch: If ``id`` and ``rawId`` differ.
        InvalidEncoding: If ``id`` or ``rawId`` is not base64url.
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
    if data.get("type") != "public-key":
        raise InvalidCredentialType(f"{what}.type must be 'public-key', got {data.get('type')!r}")
    raw_id = b64_optional(data, "rawId", what=what)
    cred_id = b64_member(data, "id", what=what)
    check_credential_id(cred_id)
    if raw_id is not None and raw_id != cred_id:
        raise CredentialIdMismatch(f"{what} id and rawId differ")
    response = data.get("response")
    if not isinstance(response, Mapping):
        raise InvalidCredentialJson(f"{what}.response must be an object")
    return data, cred_id, response


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


def write_credential(credential_id: bytes, response: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The PublicKeyCredential JSON a browser sends (what :func:`read_credential` reads), ``extra`` last."""
    cred_id = b64url_encode(credential_id)
    envelope = {"id": cred_id, "rawId": cred_id, "type": "public-key", "response": response}
    return {**envelope, "clientExtensionResults": {}, **extra}
