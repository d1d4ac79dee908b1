"""The hand-written ABI encoders of the signature blobs agree with eth-abi's generic encoder."""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer.sso import FatSignature, era_custom_signature
from sso_signer.sso._signature import EraCustomSignature

_words = st.integers(0, (1 << 256) - 1)
_blobs = st.binary(max_size=300)
_addresses = st.binary(min_size=20, max_size=20).map(lambda b: str(to_checksum_address(b)))


@settings(max_examples=200, deadline=None)
@given(_blobs, _blobs, _words, _words, _blobs)
def test_fat_signature_encoding(auth: bytes, cdj: bytes, r: int, s: int, cred: bytes) -> None:
    fat = FatSignature(auth, cdj, r, s, cred)
    expected = abi_encode(
        ["bytes", "bytes", "bytes32[2]", "bytes"],
        [auth, cdj, [r.to_bytes(32, "big"), s.to_bytes(32, "big")], cred],
    )
    assert fat.encode() == expected
    assert FatSignature.decode(expected) == fat


@settings(max_examples=200, deadline=None)
@given(_blobs, _addresses, st.lists(_blobs, max_size=4), _blobs)
def test_envelope_encodings(fat: bytes, validator: str, array: list[bytes], plain: bytes) -> None:
    sdk = abi_encode(["bytes", "address", "bytes[]"], [fat, validator, array])
    assert EraCustomSignature(fat, validator, tuple(array)).encode() == sdk
    assert era_custom_signature(fat, validator.lower(), validator_data=array) == sdk
    # The default form (the official SDK's [""]), which has a path of its own.
    assert era_custom_signature(fat, validator) == abi_encode(
        ["bytes", "address", "bytes[]"], [fat, validator, [b""]]
    )
    assert era_custom_signature(fat, validator, validator_data=plain) == abi_encode(
        ["bytes", "address", "bytes"], [fat, validator, plain]
    )


def test_fat_signature_from_assertion_equals_checked_constructor() -> None:
    # from_assertion sets the parts directly; they must be what the checked constructor stores.
    from sso_signer.webauthn import HeadlessPasskey

    passkey = HeadlessPasskey.generate(rp_id="example.com", origin="https://example.com")
    for i in range(64):
        assertion = passkey.sign(i.to_bytes(32, "big"))
        for normalize in (True, False):
            fast = FatSignature.from_assertion(assertion, normalize=normalize)
            signature = assertion.ecdsa_signature.normalized() if normalize else assertion.ecdsa_signature
            checked = FatSignature(
                bytes(assertion.authenticator_data),
                bytes(assertion.client_data),
                signature.r,
                signature.s,
                assertion.credential_id,
            )
            assert fast == checked
            assert [
                type(getattr(fast, name))
                for name in ("authenticator_data", "client_data_json", "credential_id")
            ] == [bytes] * 3
            assert fast.encode() == checked.encode()
