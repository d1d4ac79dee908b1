"""Helpers for reading browser PublicKeyCredential JSON with typed errors."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer._json import JsonLimits, parse_json
from sso_signer.exceptions import ErrorCode, InvalidEncoding, InvalidWebAuthnData
from sso_signer.webauthn._authenticator_data import check_credential_id

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
        InvalidEncoding (``FIELD_TOO_LARGE``): If the text exceeds MAX_CREDENTIAL_JSON or the id WebAuthn's
            1023 bytes.
        InvalidWebAuthnData (``INVALID_CREDENTIAL_JSON``): If it is not a JSON object (within
            CREDENTIAL_JSON_LIMITS), or ``id`` or ``response`` is missing, empty or mistyped.
        InvalidWebAuthnData (``INVALID_CREDENTIAL_TYPE``): If ``type`` is not ``public-key``.
        InvalidWebAuthnData (``CREDENTIAL_ID_MISMATCH``): If ``id`` and ``rawId`` differ.
        InvalidEncoding: If ``id`` or ``rawId`` is not base64url.
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
    if data.get("type") != "public-key":
        raise InvalidWebAuthnData(
            f"{what}.type must be 'public-key', got {data.get('type')!r}",
            rule=ErrorCode.INVALID_CREDENTIAL_TYPE,
        )
    raw_id = b64_optional(data, "rawId", what=what)
    cred_id = b64_member(data, "id", what=what)
    check_credential_id(cred_id)
    if raw_id is not None and raw_id != cred_id:
        raise InvalidWebAuthnData(f"{what} id and rawId differ", rule=ErrorCode.CREDENTIAL_ID_MISMATCH)
    response = data.get("response")
    if not isinstance(response, Mapping):
        raise InvalidWebAuthnData(
            f"{what}.response must be an object", rule=ErrorCode.INVALID_CREDENTIAL_JSON
        )
    return data, cred_id, response


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


def write_credential(credential_id: bytes, response: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The PublicKeyCredential JSON a browser sends (what :func:`read_credential` reads), ``extra`` last."""
    cred_id = b64url_encode(credential_id)
    envelope = {"id": cred_id, "rawId": cred_id, "type": "public-key", "response": response}
    return {**envelope, "clientExtensionResults": {}, **extra}
