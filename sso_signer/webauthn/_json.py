"""Helpers for reading browser PublicKeyCredential JSON with typed errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sso_signer._codec import b64url_decode
from sso_signer.webauthn._errors import FieldTooLarge, InvalidCredentialJson, InvalidCredentialType

__all__ = ["MAX_CREDENTIAL_JSON", "as_mapping", "b64_member", "b64_optional", "check_type"]

# A registration response with a long attestation certificate chain stays well under this.
MAX_CREDENTIAL_JSON = 64 * 1024


def as_mapping(data: Mapping[str, Any] | str | bytes, *, what: str) -> Mapping[str, Any]:
    """Accept a parsed JSON object or its text.

    Raises:
        FieldTooLarge: If the text exceeds MAX_CREDENTIAL_JSON.
        InvalidCredentialJson: If it is not a JSON object.
    """
    if isinstance(data, str | bytes):
        if len(data) > MAX_CREDENTIAL_JSON:
            raise FieldTooLarge(f"{what} JSON is {len(data)} long; the limit is {MAX_CREDENTIAL_JSON}")
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidCredentialJson(f"{what} is not JSON") from exc
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
