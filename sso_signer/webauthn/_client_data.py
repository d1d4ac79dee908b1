"""clientDataJSON: parsed strictly, kept byte for byte.

The signature covers sha256 of these exact bytes, so they are never re-serialised."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer._json import JsonLimits, parse_json
from sso_signer.exceptions import ErrorCode, InvalidEncoding, InvalidWebAuthnData

__all__ = ["MAX_CLIENT_DATA_JSON", "CollectedClientData"]

# Browsers emit ~150-400 bytes; Chromium's padding key adds ~100. 8 KiB leaves room without inviting abuse.
MAX_CLIENT_DATA_JSON = 8192
_RESERVED = ("type", "challenge", "origin", "crossOrigin")
# Browsers write a flat object (tokenBinding, the deepest member ever used, is 2 levels) without numbers;
# extra members may hold any JSON, so integers get room well past uint256 but far below costly conversions.
_LIMITS = JsonLimits(max_bytes=MAX_CLIENT_DATA_JSON, max_depth=16, max_int_digits=100)


_json_string = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) writes for a str
_CROSS_ORIGIN: dict[bool | None, str] = {None: "", False: ',"crossOrigin":false', True: ',"crossOrigin":true'}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            # Solady and Python keep the last copy, a browser never emits two: refuse the ambiguity.
            raise InvalidWebAuthnData(
                f"clientDataJSON repeats the key {key!r}", rule=ErrorCode.DUPLICATE_CLIENT_DATA_KEY
            )
        seen[key] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise InvalidWebAuthnData(
        f"clientDataJSON contains {name}, which is not JSON", rule=ErrorCode.CLIENT_DATA_NOT_JSON
    )


class CollectedClientData(bytes):
    """The exact clientDataJSON bytes with parsed members.

    Attributes:
        type: ``"webauthn.create"`` or ``"webauthn.get"`` (not checked here; ceremonies check it).
        challenge: The challenge, base64url-decoded.
        origin: The origin string exactly as the browser wrote it.
        cross_origin: The ``crossOrigin`` boolean, or None if absent (Safari omits it).
        top_origin: ``topOrigin`` or None.
        data: The whole parsed object.

    Raises (on construction):
        InvalidEncoding (``FIELD_TOO_LARGE``): If the bytes exceed MAX_CLIENT_DATA_JSON.
        InvalidWebAuthnData (``CLIENT_DATA_NOT_JSON``): If the bytes are not UTF-8 JSON text of an object,
            nest deeper than 16 levels or hold an integer of more than 100 digits.
        InvalidWebAuthnData (``DUPLICATE_CLIENT_DATA_KEY``): If a key appears twice.
        InvalidWebAuthnData (``INVALID_CLIENT_DATA``): If type/challenge/origin are missing or not strings, or
            crossOrigin not a bool.
        InvalidEncoding: If the challenge is not base64url.
    """

    type: str
    challenge: bytes
    origin: str
    cross_origin: bool | None
    top_origin: str | None
    data: Mapping[str, Any]

    def __new__(cls, data: bytes) -> CollectedClientData:
        self = super().__new__(cls, bytes(data))
        parsed = parse_json(
            bytes(self),
            limits=_LIMITS,
            error=functools.partial(InvalidWebAuthnData, rule=ErrorCode.CLIENT_DATA_NOT_JSON),
            too_large=functools.partial(InvalidEncoding, rule=ErrorCode.FIELD_TOO_LARGE),
            what="clientDataJSON",
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
        )
        if not isinstance(parsed, dict):
            raise InvalidWebAuthnData(
                "clientDataJSON must be a JSON object", rule=ErrorCode.CLIENT_DATA_NOT_JSON
            )
        for key in ("type", "challenge", "origin"):
            if not isinstance(parsed.get(key), str):
                problem = f"{key!r} must be a string" if key in parsed else f"has no {key!r}"
                raise InvalidWebAuthnData(f"clientDataJSON {problem}", rule=ErrorCode.INVALID_CLIENT_DATA)
        cross = parsed.get("crossOrigin")
        if cross is not None and not isinstance(cross, bool):
            raise InvalidWebAuthnData(
                "clientDataJSON 'crossOrigin' must be a boolean", rule=ErrorCode.INVALID_CLIENT_DATA
            )
        top = parsed.get("topOrigin")
        if top is not None and not isinstance(top, str):
            raise InvalidWebAuthnData(
                "clientDataJSON 'topOrigin' must be a string", rule=ErrorCode.INVALID_CLIENT_DATA
            )
        self.type = parsed["type"]
        self.challenge = b64url_decode(parsed["challenge"], field="clientDataJSON.challenge")
        self.origin = parsed["origin"]
        self.cross_origin = cross
        self.top_origin = top
        self.data = parsed
        return self

    @classmethod
    def create(
        cls,
        *,
        type: str,
        challenge: bytes,
        origin: str,
        cross_origin: bool | None = False,
        extra: Mapping[str, object] | None = None,
    ) -> CollectedClientData:
        """Serialise like a browser: compact JSON, keys type, challenge, origin, crossOrigin, then extras.

        Args:
            type: ``"webauthn.get"`` or ``"webauthn.create"``.
            challenge: The raw challenge bytes (written as unpadded base64url).
            origin: The origin string.
            cross_origin: The crossOrigin value, or None to omit the key like Safari.
            extra: Additional members appended in order (e.g. Chromium's ``other_keys_can_be_added_here``).

        Returns:
            The clientDataJSON.

        Raises:
            InvalidWebAuthnData (``INVALID_CLIENT_DATA``): If ``extra`` repeats a reserved key.
        """
        members: dict[str, object] = {
            "type": type,
            "challenge": b64url_encode(bytes(challenge)),
            "origin": origin,
        }
        if cross_origin is not None:
            members["crossOrigin"] = cross_origin
        for key, value in (extra or {}).items():
            if key in _RESERVED:
                raise InvalidWebAuthnData(
                    f"extra clientDataJSON key {key!r} is reserved", rule=ErrorCode.INVALID_CLIENT_DATA
                )
            members[key] = value
        exact_cross = cross_origin is None or cross_origin is True or cross_origin is False  # not 1, 0, [...]
        if extra or not isinstance(type, str) or not isinstance(origin, str) or not exact_cross:
            # ensure_ascii=False: WebAuthn writes code points as they are, escaping only what JSON must. The
            # full parse raises the error that names what is wrong.
            return cls(json.dumps(members, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        # The members json.dumps would write, joined directly (dumps builds an encoder per call).
        raw = (
            f'{{"type":{_json_string(type)},"challenge":"{members["challenge"]}",'
            f'"origin":{_json_string(origin)}{_CROSS_ORIGIN[cross_origin]}}}'
        ).encode()
        if len(raw) > MAX_CLIENT_DATA_JSON:
            return cls(raw)  # the full parse raises the error (FIELD_TOO_LARGE)
        # Only the standard members, of the right types: parsing the JSON just written would give these
        # values back, so they are set directly (the parse was a third of a headless assertion's cost).
        self = bytes.__new__(cls, raw)
        self.type = type
        self.challenge = bytes(challenge)
        self.origin = origin
        self.cross_origin = cross_origin
        self.top_origin = None
        self.data = members
        return self

    def __repr__(self) -> str:
        return f"CollectedClientData({bytes(self).decode('utf-8', 'replace')!r})"
