"""The real authenticator assertion of the official SSO test vectors, end to end through the room's types."""

from __future__ import annotations

import hashlib
from typing import Any

import webauthn

from sso_signer._codec import b64url_decode
from sso_signer.webauthn import Assertion, P256PublicKey
from sso_signer.webauthn._authenticator_data import AuthenticatorFlags
from sso_signer.webauthn._p256 import P256_HALF_N, P256_N, EcdsaSignature


def test_clave_assertion_parses(clave_vector: dict[str, Any]) -> None:
    derived = clave_vector["derived"]
    assertion = Assertion.from_json(clave_vector["verbatim"]["response"])
    assert bytes(assertion.authenticator_data).hex() == derived["authenticatorDataHex"][2:]
    assert assertion.authenticator_data.flags == AuthenticatorFlags.UP | AuthenticatorFlags.UV
    assert assertion.authenticator_data.matches_rp_id("localhost")
    assert assertion.authenticator_data.counter == 4
    assert bytes(assertion.client_data).decode() == derived["clientDataJSONText"]
    assert assertion.client_data.challenge.hex() == derived["challengeBytes32"][2:]
    assert assertion.client_data.origin == derived["originKey"]
    assert assertion.client_data.cross_origin is False
    assert assertion.credential_id.hex() == derived["credentialIdHex"][2:]
    assert assertion.message_hash.hex() == derived["p256MessageHash_sha256_authData_sha256cdj"][2:]


def test_clave_cose_key_and_signature(clave_vector: dict[str, Any], clave_cose_key: bytes) -> None:
    derived = clave_vector["derived"]
    key = P256PublicKey.from_cose(clave_cose_key)
    assert key.x_bytes.hex() == derived["pubKeyX"][2:]
    assert key.y_bytes.hex() == derived["pubKeyY"][2:]
    assert key.to_cose() == clave_cose_key  # canonical CBOR equals what the authenticator emitted

    assertion = Assertion.from_json(clave_vector["verbatim"]["response"])
    raw = assertion.ecdsa_signature
    assert raw.r == int(derived["r"], 16)
    assert raw.s == int(derived["s_der_high"], 16)
    assert not raw.is_low_s  # the authenticator sent a high-s signature: it must not be altered on parse
    assert key.verify(raw, assertion.signed_message)

    low = raw.normalized()
    assert low.s == int(derived["s_normalized_low"], 16)
    assert low.s == P256_N - raw.s
    assert low.s <= P256_HALF_N
    assert low.is_low_s
    assert key.verify(low, assertion.signed_message)  # both forms verify under ECDSA
    assert EcdsaSignature.from_der(assertion.signature).to_der() == assertion.signature

    tampered = assertion.signed_message[:-1] + bytes([assertion.signed_message[-1] ^ 1])
    assert not key.verify(raw, tampered)


def test_clave_assertion_verifies_with_py_webauthn(
    clave_vector: dict[str, Any], clave_cose_key: bytes
) -> None:
    verbatim = clave_vector["verbatim"]
    assertion = Assertion.from_json(verbatim["response"])
    result = webauthn.verify_authentication_response(
        credential=assertion.to_json(),
        expected_challenge=b64url_decode(verbatim["expectedChallenge"]),
        expected_rp_id=verbatim["expectedRPID"],
        expected_origin=verbatim["expectedOrigin"],
        credential_public_key=clave_cose_key,
        credential_current_sign_count=0,
        require_user_verification=True,
    )
    assert result.new_sign_count == 4
    assert (
        hashlib.sha256(bytes(assertion.client_data)).digest()
        == hashlib.sha256(b64url_decode(verbatim["response"]["response"]["clientDataJSON"])).digest()
    )
