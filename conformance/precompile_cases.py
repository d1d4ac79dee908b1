"""EIP-7951 (P-256 verify precompile at 0x100) cases, written from the EIP's rules, with their verdicts.

The precompile takes exactly 160 bytes ``hash || r || s || x || y`` and answers the 32-byte word 1 when the
signature verifies; every failure (wrong input length, r or s outside [1, n-1], a coordinate outside [0, p-1],
a point not on the curve or at infinity, a wrong signature) answers EMPTY data, and the call itself succeeds.
High s is valid for the precompile (low-s is the verifier's policy).

Each case also states what the SSO validator's signature step says (``ChainRule``) where the input is a
``(hash, r, s, x, y)`` row, and the real Era ``WebAuthValidator`` cases state its ``Rule`` for tampered fat
signatures of a real (headless) passkey assertion.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conformance.ecdsa_vectors import ChainRule
from sso_signer.webauthn._p256 import P256_HALF_N, P256_N

__all__ = ["P256_P", "PrecompileCase", "precompile_cases"]

#: The P-256 field prime.
P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
# A fixed key so the report is reproducible (its value is irrelevant to the verdicts).
_KEY = 0x5EC0_0DE5_0C0F_FEE0_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0001


@dataclass(frozen=True, slots=True)
class PrecompileCase:
    """One precompile input and its documented verdicts.

    Attributes:
        name: What the case exercises.
        data: The raw precompile input.
        valid: The precompile's verdict under EIP-7951 (True = word 1, False = empty).
        validator_rule: The validator signature step's Rule, or None where the input is not a 160-byte row.
    """

    name: str
    data: bytes
    valid: bool
    validator_rule: int | None

    def row(self) -> tuple[bytes, int, int, int, int] | None:
        """``(hash, r, s, x, y)`` of a 160-byte input."""
        if len(self.data) != 160:
            return None
        words = [int.from_bytes(self.data[i : i + 32], "big") for i in range(32, 160, 32)]
        return self.data[:32], words[0], words[1], words[2], words[3]


def _pack(h: bytes, r: int, s: int, x: int, y: int) -> bytes:
    return h + b"".join(v.to_bytes(32, "big") for v in (r, s, x, y))


def _signed(message: bytes) -> tuple[bytes, int, int, int, int]:
    key = ec.derive_private_key(_KEY, ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    # Deterministic k would need RFC 6979; a random k is fine: the verdicts do not depend on r's value.
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    if s > P256_HALF_N:
        s = P256_N - s
    return hashlib.sha256(message).digest(), r, s, numbers.x, numbers.y


def precompile_cases() -> list[PrecompileCase]:
    """The EIP-7951 cases: valid, invalid, off-curve, r/s zero or >= n, coordinates >= p, wrong lengths."""
    h, r, s, x, y = _signed(b"sso-signer conformance: EIP-7951")
    other_h = hashlib.sha256(b"another message").digest()
    ok, bad, out, high = (
        ChainRule.VALID,
        ChainRule.BAD_SIGNATURE,
        ChainRule.SIGNATURE_OUT_OF_RANGE,
        ChainRule.HIGH_S,
    )
    base = _pack(h, r, s, x, y)
    cases = [
        PrecompileCase("valid, low s", base, True, ok),
        PrecompileCase(
            "valid, high s (n - s): the precompile accepts, the validator does not",
            _pack(h, r, P256_N - s, x, y),
            True,
            high,
        ),
        PrecompileCase("wrong hash", _pack(other_h, r, s, x, y), False, bad),
        PrecompileCase("r + 1", _pack(h, r + 1, s, x, y), False, bad),
        PrecompileCase("s + 1", _pack(h, r, s + 1, x, y), False, bad),
        PrecompileCase("negated public key (x, p - y)", _pack(h, r, s, x, P256_P - y), False, bad),
        PrecompileCase("r = 0", _pack(h, 0, s, x, y), False, out),
        PrecompileCase("s = 0", _pack(h, r, 0, x, y), False, out),
        PrecompileCase(
            "r = n: inside the official r <= n bound, refused by the precompile",
            _pack(h, P256_N, s, x, y),
            False,
            bad,
        ),
        PrecompileCase("s = n", _pack(h, r, P256_N, x, y), False, out),
        PrecompileCase("r = 2^256 - 1", _pack(h, 2**256 - 1, s, x, y), False, out),
        PrecompileCase("s = 2^256 - 1", _pack(h, r, 2**256 - 1, x, y), False, out),
        PrecompileCase("point not on the curve (y + 1)", _pack(h, r, s, x, (y + 1) % P256_P), False, bad),
        PrecompileCase("point at infinity (0, 0)", _pack(h, r, s, 0, 0), False, bad),
        PrecompileCase("x = p (coordinate out of the field)", _pack(h, r, s, P256_P, y), False, bad),
        PrecompileCase("y = p (coordinate out of the field)", _pack(h, r, s, x, P256_P), False, bad),
        PrecompileCase("all zero", bytes(160), False, out),
        PrecompileCase("empty input", b"", False, None),
        PrecompileCase("159 bytes (last byte cut)", base[:159], False, None),
        PrecompileCase("161 bytes (one byte appended)", base + b"\x00", False, None),
        PrecompileCase("192 bytes (a word appended)", base + bytes(32), False, None),
        PrecompileCase("128 bytes (y missing)", base[:128], False, None),
    ]
    # Field aliases (coordinate + p) exist only for coordinates below 2**256 - p.
    if x + P256_P < 2**256:
        cases.append(PrecompileCase("x + p (alias of x)", _pack(h, r, s, x + P256_P, y), False, bad))
    if y + P256_P < 2**256:
        cases.append(PrecompileCase("y + p (alias of y)", _pack(h, r, s, x, y + P256_P), False, bad))
    return cases
