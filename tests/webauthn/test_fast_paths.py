"""The shortcuts taken for speed give the same objects as the full paths they skip."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer.webauthn import CollectedClientData, EcdsaSignature, HeadlessPasskey, P256PublicKey


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["webauthn.get", "webauthn.create", "x"]),
    st.binary(max_size=64),
    st.text(max_size=40, alphabet=st.characters(codec="utf-8")),
    st.sampled_from([None, True, False]),
)
def test_created_client_data_equals_parsed(
    kind: str, challenge: bytes, origin: str, cross: bool | None
) -> None:
    created = CollectedClientData.create(type=kind, challenge=challenge, origin=origin, cross_origin=cross)
    parsed = CollectedClientData(bytes(created))
    assert bytes(created) == bytes(parsed)
    assert (created.type, created.challenge, created.origin) == (parsed.type, parsed.challenge, parsed.origin)
    assert (created.cross_origin, created.top_origin) == (parsed.cross_origin, parsed.top_origin)
    assert dict(created.data) == dict(parsed.data)


def test_cached_public_key_still_verifies_only_its_own_signatures() -> None:
    one = HeadlessPasskey.generate(rp_id="example.com", origin="https://example.com")
    two = HeadlessPasskey.generate(rp_id="example.com", origin="https://example.com")
    for _ in range(3):  # repeated: the second and later calls use the cached OpenSSL key
        assertion = one.sign(b"\x07" * 32)
        signature: EcdsaSignature = assertion.ecdsa_signature
        assert one.public_key.verify(signature, assertion.signed_message)
        assert not two.public_key.verify(signature, assertion.signed_message)
        same = P256PublicKey(one.public_key.x, one.public_key.y)
        assert same.to_cryptography().public_numbers() == one.public_key.to_cryptography().public_numbers()
