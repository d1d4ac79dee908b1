"""Public-key recovery from assertions, cross-checked against the key that signed."""

from __future__ import annotations

from typing import Any

import pytest

from sso_signer.exceptions import ErrorCode, KeyRecoveryFailed
from sso_signer.webauthn import Assertion, HeadlessPasskey, P256PublicKey, recover_public_key
from sso_signer.webauthn._p256 import P256_N, EcdsaSignature
from sso_signer.webauthn._recovery import recover_public_keys
from tests.errors import raises_rule


def test_two_candidates_one_of_them_the_signer() -> None:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost")
    assertion = passkey.sign(b"\x01" * 32)
    candidates = recover_public_keys(assertion.ecdsa_signature, assertion.message_hash)
    assert len(candidates) == 2
    assert passkey.public_key in candidates
    # Both candidates verify this one signature (that is why one assertion is not enough)...
    assert all(k.verify(assertion.ecdsa_signature, assertion.signed_message) for k in candidates)
    # ...but only the real key verifies a second one.
    other = passkey.sign(b"\x02" * 32)
    assert [k.verify(other.ecdsa_signature, other.signed_message) for k in candidates].count(True) == 1


def test_intersection_over_two_assertions_gives_the_key() -> None:
    for _ in range(3):
        passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost")
        found = recover_public_key([passkey.sign(b"\x03" * 32), passkey.sign(b"\x04" * 32)])
        assert found == passkey.public_key


def test_high_and_low_s_recover_the_same_set() -> None:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost")
    assertion = passkey.sign(b"\x05" * 32)
    sig = assertion.ecdsa_signature
    flipped = EcdsaSignature(sig.r, P256_N - sig.s)
    assert set(recover_public_keys(sig, assertion.message_hash)) == set(
        recover_public_keys(flipped, assertion.message_hash)
    )


def test_official_vector_key_is_recovered(clave_vector: dict[str, Any], clave_cose_key: bytes) -> None:
    assertion = Assertion.from_json(clave_vector["verbatim"]["response"])
    assert P256PublicKey.from_cose(clave_cose_key) in recover_public_keys(
        assertion.ecdsa_signature, assertion.message_hash
    )


def test_recovery_errors() -> None:
    alice = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost")
    bob = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost")
    with raises_rule(ErrorCode.AMBIGUOUS_RECOVERY):
        recover_public_key([alice.sign(b"\x06" * 32)])
    with raises_rule(ErrorCode.NO_COMMON_RECOVERED_KEY):
        recover_public_key([alice.sign(b"\x06" * 32), bob.sign(b"\x07" * 32)])
    # The same signature twice: both candidates survive the intersection. (Two signatures of one message
    # are fine: their random nonces give different spurious candidates.)
    twice = alice.sign(b"\x09" * 32)
    with raises_rule(ErrorCode.AMBIGUOUS_RECOVERY):
        recover_public_key([twice, twice])
    assert recover_public_key([twice, alice.sign(b"\x09" * 32)]) == alice.public_key
    # About half of all x values have no curve point; a signature with such an r fits no key.
    digest = b"\x08" * 32
    for r in range(1, 50):
        try:
            recover_public_keys(EcdsaSignature(r, 1), digest)
        except KeyRecoveryFailed:
            break
    else:
        pytest.fail("no small r without a curve point found")
