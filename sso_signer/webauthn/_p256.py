"""P-256 (secp256r1) public keys (and their COSE_Key form) and ECDSA signatures, with strict DER.

The SSO ``WebAuthValidator`` hands ``(digest, r, s, x, y)`` to the P-256 precompile, so the SDK works with the
plain integers; ``cryptography`` does the actual signature arithmetic.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sso_signer.exceptions import ErrorCode, InvalidKey, MalformedSignature
from sso_signer.webauthn._cbor import decode_strict, encode

__all__ = ["COSE_ALG_ES256", "ECDSA_SHA256", "P256_HALF_N", "P256_N", "EcdsaSignature", "P256PublicKey"]

P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_A = P256_P - 3
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
P256_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
# The validator's LOW_S_MAX: s must be <= n // 2.
P256_HALF_N = P256_N // 2


# COSE_Key labels and the only values the SSO validator can verify: EC2, ES256 (-7), P-256.
COSE_ALG_ES256 = -7
_KTY, _ALG, _CRV, _X, _Y = 1, 3, -1, -2, -3
_EC2, _P256 = 2, 1
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


@dataclass(frozen=True, slots=True)
class P256PublicKey:
    """An uncompressed P-256 public key, checked to lie on the curve.

    Args:
        x: Affine x coordinate.
        y: Affine y coordinate.

    Raises:
        InvalidKey (``POINT_NOT_ON_CURVE``): If ``(x, y)`` is not a point of P-256.
    """

    x: int
    y: int

    def __post_init__(self) -> None:
        x, y = self.x, self.y
        if (
            not isinstance(x, int)
            or not isinstance(y, int)
            or not (0 <= x < P256_P and 0 <= y < P256_P)
            or (y * y - (x * x * x + P256_A * x + P256_B)) % P256_P != 0
        ):
            raise InvalidKey("public key (x, y) is not a point of P-256", rule=ErrorCode.POINT_NOT_ON_CURVE)

    @property
    def x_bytes(self) -> bytes:
        """x as 32 big-endian bytes (the first word the validator stores)."""
        return self.x.to_bytes(32, "big")

    @property
    def y_bytes(self) -> bytes:
        """y as 32 big-endian bytes (the second word the validator stores)."""
        return self.y.to_bytes(32, "big")

    @classmethod
    def from_uncompressed(cls, data: bytes) -> P256PublicKey:
        """Parse the SEC1 uncompressed form ``0x04 || x || y`` (65 bytes) or the raw ``x || y`` (64 bytes).

        Args:
            data: The encoded point.

        Returns:
            The public key.

        Raises:
            InvalidKey (``POINT_NOT_ON_CURVE``): If the length or prefix is wrong or the point is off the
                curve.
        """
        data = bytes(data)
        if len(data) == 65 and data[0] == 0x04:
            data = data[1:]
        if len(data) != 64:
            raise InvalidKey(
                f"uncompressed P-256 point must be 65 bytes (0x04||x||y) or 64, got {len(data)}",
                rule=ErrorCode.POINT_NOT_ON_CURVE,
            )
        return cls(int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big"))

    def to_uncompressed(self) -> bytes:
        """Return ``0x04 || x || y``."""
        return b"\x04" + self.x_bytes + self.y_bytes

    @classmethod
    def from_cose(cls, data: bytes) -> P256PublicKey:
        """Parse a COSE_Key (EC2 / ES256 / P-256 only).

        Args:
            data: The CBOR-encoded COSE_Key, exactly one item.

        Returns:
            The public key.

        Raises:
            InvalidCbor: If ``data`` is not exactly one well-formed CBOR item.
            InvalidKey: If a required COSE field is missing or malformed.
            InvalidKey (``UNSUPPORTED_ALGORITHM``): If the key is not ES256 on P-256 (RSA, EdDSA, other
                curves).
            InvalidKey (``POINT_NOT_ON_CURVE``): If the coordinates are off the curve.
        """
        return _parse_cose(bytes(data))

    def to_cose(self) -> bytes:
        """Encode as the canonical COSE_Key ``{1: 2, 3: -7, -1: 1, -2: x, -3: y}`` authenticators emit."""
        return encode({_KTY: _EC2, _ALG: COSE_ALG_ES256, _CRV: _P256, _X: self.x_bytes, _Y: self.y_bytes})

    @classmethod
    def from_cryptography(cls, key: Any) -> P256PublicKey:
        """Convert a ``cryptography`` EC public (or private) key on SECP256R1.

        Raises:
            InvalidKey (``UNSUPPORTED_ALGORITHM``): If ``key`` is not a P-256 key.
        """
        if isinstance(key, ec.EllipticCurvePrivateKey):
            key = key.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise InvalidKey(
                f"expected a P-256 key, got {type(key).__name__}; the SSO validator only verifies P-256",
                rule=ErrorCode.UNSUPPORTED_ALGORITHM,
            )
        numbers = key.public_numbers()
        return cls(numbers.x, numbers.y)

    def to_cryptography(self) -> ec.EllipticCurvePublicKey:
        """Return the key as a ``cryptography`` public key object."""
        return _cryptography_key(self.x, self.y)

    def verify(self, signature: EcdsaSignature, message: bytes) -> bool:
        """Check an ECDSA-P256-SHA256 signature over ``message`` (hashed with sha256 here).

        High-s signatures verify (ECDSA accepts both); the validator's low-s rule is checked elsewhere.

        Args:
            signature: The (r, s) signature.
            message: The signed bytes, before hashing (for WebAuthn: authData || sha256(clientDataJSON)).

        Returns:
            True if the signature is valid.
        """
        try:
            self.to_cryptography().verify(signature.to_der(), bytes(message), ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True


# Stateless, so one instance serves every call.
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


@functools.lru_cache(maxsize=256)
def _parse_cose(data: bytes) -> P256PublicKey:
    # Cached: a relying party re-reads the same stored COSE keys on every ceremony (CBOR decode + on-curve
    # check were a quarter of one). The result is immutable; errors are not cached and surface on every call.
    value = decode_strict(data, field="COSE key")
    if not isinstance(value, dict):
        raise InvalidKey("COSE key must be a CBOR map")
    kty, alg, crv = value.get(_KTY), value.get(_ALG), value.get(_CRV)
    if kty is None:
        raise InvalidKey("COSE key has no kty (label 1)")
    if kty != _EC2 or isinstance(kty, bool):
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
    if crv != _P256 or isinstance(crv, bool):
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


@functools.lru_cache(maxsize=256)
def _cryptography_key(x: int, y: int) -> ec.EllipticCurvePublicKey:
    # Loading a point into OpenSSL (with its on-curve check) costs a third of a verification, and a
    # signer or relying party verifies many signatures under the same few keys. The objects are immutable.
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def _der_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise MalformedSignature("DER signature truncated: missing length")
    first = data[pos]
    if first & 0x80:
        # A P-256 signature is at most 72 bytes: short-form lengths only in the canonical encoding.
        raise MalformedSignature("DER signature uses a long-form length", rule=ErrorCode.NON_CANONICAL_DER)
    return first, pos + 1


def _der_integer(data: bytes, pos: int, name: str) -> tuple[int, int]:
    if pos >= len(data) or data[pos] != 0x02:
        raise MalformedSignature(f"DER signature: expected INTEGER tag for {name}")
    length, pos = _der_length(data, pos + 1)
    if length == 0:
        raise MalformedSignature(f"DER signature: empty INTEGER {name}")
    if pos + length > len(data):
        raise MalformedSignature(f"DER signature truncated inside {name}")
    body = data[pos : pos + length]
    if body[0] & 0x80:
        raise MalformedSignature(f"DER signature: {name} is negative", rule=ErrorCode.NON_CANONICAL_DER)
    if length > 1 and body[0] == 0 and not body[1] & 0x80:
        raise MalformedSignature(
            f"DER signature: {name} has a superfluous leading zero", rule=ErrorCode.NON_CANONICAL_DER
        )
    return int.from_bytes(body, "big"), pos + length


def _canonical_der_fast(data: bytes) -> tuple[int, int] | None:
    """(r, s) of a well-formed canonical DER signature in one pass of index checks, else None.

    Every authenticator answer takes this path; anything unusual falls through to the full parser, which
    accepts exactly the same canonical encodings (tests/webauthn/test_fast_paths.py) and names errors.
    """
    size = len(data)
    if size < 8 or size > 72 or data[0] != 0x30 or data[1] != size - 2 or data[2] != 0x02:
        return None
    r_len = data[3]
    s_at = 4 + r_len
    if not 0 < r_len <= 33 or s_at + 2 > size or data[s_at] != 0x02 or s_at + 2 + data[s_at + 1] != size:
        return None
    r_body, s_body = data[4:s_at], data[s_at + 2 :]
    for body in (r_body, s_body):
        # Non-empty, non-negative, no superfluous leading zero.
        if not body or body[0] & 0x80 or (len(body) > 1 and body[0] == 0 and not body[1] & 0x80):
            return None
    return int.from_bytes(r_body, "big"), int.from_bytes(s_body, "big")


def _parse_der(data: bytes) -> tuple[int, int]:
    """(r, s) of a strict DER signature, step by step, raising the error that names what is wrong."""
    if len(data) > 72:
        raise MalformedSignature(f"DER signature is {len(data)} bytes; a P-256 signature is at most 72")
    if not data or data[0] != 0x30:
        raise MalformedSignature("DER signature must start with a SEQUENCE tag (0x30)")
    length, pos = _der_length(data, 1)
    if pos + length != len(data):
        raise MalformedSignature(
            "DER signature: SEQUENCE length does not match the data (truncated/trailing)"
        )
    r, pos = _der_integer(data, pos, "r")
    s, pos = _der_integer(data, pos, "s")
    if pos != len(data):
        raise MalformedSignature("DER signature: trailing bytes after s")
    return r, s


@dataclass(frozen=True, slots=True)
class EcdsaSignature:
    """An ECDSA P-256 signature ``(r, s)``.

    Args:
        r: The r component, 0 < r < n.
        s: The s component, 0 < s < n (high or low).

    Raises:
        MalformedSignature (``SIGNATURE_OUT_OF_RANGE``): If r or s is outside [1, n-1].
    """

    r: int
    s: int

    def __post_init__(self) -> None:
        for name in ("r", "s"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 < value < P256_N:
                raise MalformedSignature(
                    f"signature {name} must be in [1, n-1]", rule=ErrorCode.SIGNATURE_OUT_OF_RANGE
                )

    @property
    def is_low_s(self) -> bool:
        """True if ``s <= n // 2``, the form the SSO validator accepts."""
        return self.s <= P256_HALF_N

    def normalized(self) -> EcdsaSignature:
        """Return the low-s form: ``(r, n - s)`` if s is high, else ``self``. Both verify under ECDSA."""
        return self if self.is_low_s else EcdsaSignature(self.r, P256_N - self.s)

    @classmethod
    def from_der(cls, der: bytes) -> EcdsaSignature:
        """Parse a strict (canonical) DER ``SEQUENCE { INTEGER r, INTEGER s }``.

        Args:
            der: The DER bytes as an authenticator sends them.

        Returns:
            The signature (s is left as encoded, not normalised).

        Raises:
            MalformedSignature: If the structure is wrong, truncated or has trailing bytes.
            MalformedSignature (``NON_CANONICAL_DER``): If the encoding is valid BER but not minimal DER.
            MalformedSignature (``SIGNATURE_OUT_OF_RANGE``): If r or s is outside [1, n-1].
        """
        data = bytes(der)
        return cls(*(_canonical_der_fast(data) or _parse_der(data)))

    def to_der(self) -> bytes:
        """Encode as canonical DER."""
        return encode_dss_signature(self.r, self.s)

    @classmethod
    def from_bytes(cls, raw: bytes) -> EcdsaSignature:
        """Parse the fixed-width ``r32 || s32`` form.

        Raises:
            MalformedSignature (``SIGNATURE_OUT_OF_RANGE``): If ``raw`` is not 64 bytes or r/s are out of
                range.
        """
        raw = bytes(raw)
        if len(raw) != 64:
            raise MalformedSignature(
                f"raw signature must be 64 bytes (r||s), got {len(raw)}",
                rule=ErrorCode.SIGNATURE_OUT_OF_RANGE,
            )
        return cls(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))

    def to_bytes(self) -> bytes:
        """Return ``r32 || s32``."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big")
