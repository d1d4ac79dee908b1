"""COSE_Key parsing restricted to what the SSO validator can verify: EC2, ES256 (-7), P-256."""

from __future__ import annotations

from typing import Any

from sso_signer.exceptions import ErrorCode, InvalidKey
from sso_signer.webauthn._cbor import decode_strict, encode
from sso_signer.webauthn._p256 import P256PublicKey

__all__ = [
    "COSE_ALG_ES256",
    "COSE_CRV_P256",
    "COSE_KTY_EC2",
    "cose_algorithm",
    "encode_cose_key",
    "parse_cose_key",
    "parse_cose_key_map",
]

COSE_KTY_EC2 = 2
COSE_ALG_ES256 = -7
COSE_CRV_P256 = 1

_KTY, _ALG, _CRV, _X, _Y = 1, 3, -1, -2, -3
_KTY_NAMES = {1: "OKP", 2: "EC2", 3: "RSA", 4: "Symmetric"}
_ALG_NAMES = {
    -7: "ES256",
    -8: "EdDSA",
    -35: "ES384",
    -36: "ES512",
    -257: "RS256",
    -37: "PS256",
    -47: "ES256K",
}
_ONLY_P256 = "the SSO WebAuthValidator only verifies P-256 (ES256, alg -7) keys"


def _name(table: dict[int, str], value: Any) -> str:
    # Decoded CBOR may hold lists or maps here: only plain ints are looked up, anything else is shown as is.
    if isinstance(value, int) and not isinstance(value, bool) and value in table:
        return table[value]
    return repr(value)[:40]


def cose_algorithm(data: bytes) -> int | None:
    """Return the ``alg`` label of a COSE_Key, or None if absent or not an int.

    Raises:
        InvalidCbor: If ``data`` is not exactly one CBOR item.
        InvalidKey: If it is not a map.
    """
    value = decode_strict(data, field="COSE key")
    if not isinstance(value, dict):
        raise InvalidKey("COSE key must be a CBOR map")
    alg = value.get(_ALG)
    return alg if isinstance(alg, int) and not isinstance(alg, bool) else None


def parse_cose_key_map(value: Any) -> P256PublicKey:
    """Check a decoded COSE_Key map and return its P-256 key.

    Raises:
        InvalidKey: If a field is missing or malformed.
        InvalidKey (``UNSUPPORTED_ALGORITHM``): If kty/alg/crv is anything but EC2/ES256/P-256.
        InvalidKey (``POINT_NOT_ON_CURVE``): If the point is off the curve.
    """
    if not isinstance(value, dict):
        raise InvalidKey("COSE key must be a CBOR map")
    kty, alg, crv = value.get(_KTY), value.get(_ALG), value.get(_CRV)
    if kty is None:
        raise InvalidKey("COSE key has no kty (label 1)")
    if kty != COSE_KTY_EC2 or isinstance(kty, bool):
        raise InvalidKey(
            f"COSE kty {_name(_KTY_NAMES, kty)} is not EC2: {_ONLY_P256}",
            rule=ErrorCode.UNSUPPORTED_ALGORITHM,
        )
    if alg is None:
        raise InvalidKey("COSE key has no alg (label 3)")
    if alg != COSE_ALG_ES256 or isinstance(alg, bool):
        raise InvalidKey(
            f"COSE alg {_name(_ALG_NAMES, alg)} is not ES256 (-7): {_ONLY_P256}",
            rule=ErrorCode.UNSUPPORTED_ALGORITHM,
        )
    if crv != COSE_CRV_P256 or isinstance(crv, bool):
        raise InvalidKey(
            f"COSE crv {repr(crv)[:40]} is not P-256 (1): {_ONLY_P256}", rule=ErrorCode.UNSUPPORTED_ALGORITHM
        )
    coords = []
    for label, name in ((_X, "x"), (_Y, "y")):
        coord = value.get(label)
        if not isinstance(coord, bytes):
            raise InvalidKey(f"COSE key {name} (label {label}) must be a byte string")
        if len(coord) != 32:
            raise InvalidKey(f"COSE key {name} must be 32 bytes, got {len(coord)}")
        coords.append(int.from_bytes(coord, "big"))
    return P256PublicKey(coords[0], coords[1])


def parse_cose_key(data: bytes) -> P256PublicKey:
    """Parse CBOR bytes holding exactly one COSE_Key and return its P-256 key.

    Args:
        data: The COSE_Key bytes (as stored in authenticatorData's attested credential data).

    Returns:
        The public key.

    Raises:
        InvalidCbor: If ``data`` is not exactly one well-formed CBOR item (TruncatedCbor / TrailingCbor).
        InvalidKey: If a field is missing or malformed.
        InvalidKey (``UNSUPPORTED_ALGORITHM``): If kty/alg/crv is anything but EC2/ES256/P-256.
        InvalidKey (``POINT_NOT_ON_CURVE``): If the point is off the curve.
    """
    return parse_cose_key_map(decode_strict(bytes(data), field="COSE key"))


def encode_cose_key(key: P256PublicKey) -> bytes:
    """Encode a P-256 key as the COSE_Key authenticators emit (canonical CBOR, 77 bytes)."""
    return encode(
        {_KTY: COSE_KTY_EC2, _ALG: COSE_ALG_ES256, _CRV: COSE_CRV_P256, _X: key.x_bytes, _Y: key.y_bytes}
    )
