"""P-256 public-key recovery from WebAuthn assertions.

``navigator.credentials.get()`` never returns the public key, so a backend that lost it (or a user signing in
on a new device) can only rebuild it from signatures. ECDSA allows this: from (r, s) and the message hash e,
each curve point R with x(R) = r gives a key Q = r^-1 (sR - eG). A signature leaves two candidates (the two y
of R; x = r + n is almost never below p); two assertions over different messages share exactly one.

``cryptography`` has no recovery, so the curve arithmetic is done here over py_ecc's generic prime field.
"""

from __future__ import annotations

from collections.abc import Sequence

from py_ecc.fields.field_elements import FQ

from sso_signer.exceptions import ErrorCode, KeyRecoveryFailed
from sso_signer.webauthn._assertion import Assertion
from sso_signer.webauthn._p256 import (
    P256_A,
    P256_B,
    P256_GX,
    P256_GY,
    P256_N,
    P256_P,
    EcdsaSignature,
    P256PublicKey,
)

__all__ = ["recover_public_key", "recover_public_keys"]


class _Fp(FQ):
    """The P-256 base field."""

    field_modulus = P256_P


_Point = tuple[_Fp, _Fp] | None  # None is the point at infinity
_G: _Point = (_Fp(P256_GX), _Fp(P256_GY))


def _add(p: _Point, q: _Point) -> _Point:
    if p is None:
        return q
    if q is None:
        return p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        if y1 != y2 or y1 == _Fp(0):
            return None  # P + (-P)
        slope = (x1 * x1 * 3 + P256_A) / (y1 * 2)
    else:
        slope = (y2 - y1) / (x2 - x1)
    x3 = slope * slope - x1 - x2
    return (x3, slope * (x1 - x3) - y1)


def _mul(point: _Point, k: int) -> _Point:
    result: _Point = None
    addend = point
    k %= P256_N
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def _sqrt(value: _Fp) -> _Fp | None:
    # p = 3 mod 4, so a square root is value^((p+1)/4) when one exists.
    root: _Fp = value ** ((P256_P + 1) // 4)
    return root if root * root == value else None


def recover_public_keys(signature: EcdsaSignature, digest: bytes) -> tuple[P256PublicKey, ...]:
    """All P-256 public keys under which ``signature`` is valid for the 32-byte ``digest``.

    Args:
        signature: The (r, s) signature (high or low s: both recover the same key set).
        digest: The sha256 the signer signed (for WebAuthn: sha256(authData || sha256(clientDataJSON))).

    Returns:
        The candidate keys (usually two), each checked with ``cryptography``-independent arithmetic.

    Raises:
        KeyRecoveryFailed: If no curve point has x = r (the signature cannot come from any key).
    """
    e = int.from_bytes(bytes(digest), "big") % P256_N
    r_inv = pow(signature.r, -1, P256_N)
    u1 = (-e * r_inv) % P256_N
    u2 = (signature.s * r_inv) % P256_N
    u1_g = _mul(_G, u1)
    candidates: list[P256PublicKey] = []
    for x in (signature.r, signature.r + P256_N):
        if x >= P256_P:
            continue
        fx = _Fp(x)
        y = _sqrt(fx * fx * fx + fx * P256_A + P256_B)
        if y is None:
            continue
        for ry in (y, -y):
            q = _add(u1_g, _mul((fx, ry), u2))
            if q is not None:
                key = P256PublicKey(int(q[0].n), int(q[1].n))
                if key not in candidates:
                    candidates.append(key)
    if not candidates:
        raise KeyRecoveryFailed("no P-256 point has x = r: this signature fits no public key")
    return tuple(candidates)


def recover_public_key(assertions: Sequence[Assertion]) -> P256PublicKey:
    """Recover the one key that signed all ``assertions`` and check it verifies each of them.

    Args:
        assertions: Two or more assertions of the same credential over different challenges.

    Returns:
        The public key.

    Raises:
        KeyRecoveryFailed (``AMBIGUOUS_RECOVERY``): Fewer than two assertions, or several candidates remain
            (the same signature twice).
        KeyRecoveryFailed (``NO_COMMON_RECOVERED_KEY``): No key fits every assertion (different credentials,
            or a tampered assertion).
        KeyRecoveryFailed: A signature fits no key at all.
    """
    if len(assertions) < 2:
        raise KeyRecoveryFailed(
            "one assertion leaves two candidate keys; give at least two", rule=ErrorCode.AMBIGUOUS_RECOVERY
        )
    common: list[P256PublicKey] | None = None
    for assertion in assertions:
        found = recover_public_keys(assertion.ecdsa_signature, assertion.message_hash)
        common = list(found) if common is None else [k for k in common if k in found]
    assert common is not None
    if not common:
        raise KeyRecoveryFailed(
            "no single public key fits all the assertions", rule=ErrorCode.NO_COMMON_RECOVERED_KEY
        )
    if len(common) > 1:
        raise KeyRecoveryFailed(
            "several keys fit; give assertions with different signatures", rule=ErrorCode.AMBIGUOUS_RECOVERY
        )
    key = common[0]
    for assertion in assertions:
        if not key.verify(assertion.ecdsa_signature, assertion.signed_message):
            raise KeyRecoveryFailed(
                "the recovered key does not verify an assertion", rule=ErrorCode.NO_COMMON_RECOVERED_KEY
            )  # pragma: no cover
    return key
