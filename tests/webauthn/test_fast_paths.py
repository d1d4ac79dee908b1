"""The shortcuts taken for speed give the same objects as the full paths they skip."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer.exceptions import ErrorCode
from sso_signer.webauthn import AuthenticatorData, HeadlessPasskey, P256PublicKey, verify_assertion
from sso_signer.webauthn._authenticator_data import AuthenticatorFlags
from sso_signer.webauthn._client_data import CollectedClientData
from sso_signer.webauthn._p256 import EcdsaSignature
from tests.errors import raises_rule


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


@pytest.mark.parametrize("cross_check", [False, True])
def test_verify_assertion_rejects_the_same_with_or_without_py_webauthn(cross_check: bool) -> None:
    # py_webauthn became an opt-in second verifier; the SDK's own checks must refuse the same assertions.
    passkey = HeadlessPasskey.generate(rp_id="example.com", origin="https://example.com")
    credential = passkey.credential
    origins = ("https://example.com",)
    kwargs: dict[str, Any] = {"rp_id": "example.com", "origins": origins, "cross_check": cross_check}
    good = passkey.sign(b"\x01" * 32)
    counter = verify_assertion(good, credential, expected_challenge=b"\x01" * 32, **kwargs)
    assert counter == good.authenticator_data.counter
    other = HeadlessPasskey.generate(rp_id="example.com", origin="https://example.com").sign(b"\x01" * 32)
    forged = dataclasses.replace(good, signature=other.signature)
    with raises_rule(ErrorCode.SIGNATURE_INVALID):
        verify_assertion(forged, credential, expected_challenge=b"\x01" * 32, **kwargs)
    later = dataclasses.replace(credential, sign_count=good.authenticator_data.counter + 5)
    with raises_rule(ErrorCode.COUNTER_REGRESSION):
        verify_assertion(good, later, expected_challenge=b"\x01" * 32, **kwargs)
    with raises_rule(ErrorCode.CHALLENGE_MISMATCH):
        verify_assertion(good, credential, expected_challenge=b"\x02" * 32, **kwargs)


def test_cose_parsing_is_cached_but_errors_are_not() -> None:
    key = HeadlessPasskey.generate(rp_id="example.com", origin="https://example.com").public_key
    cose = key.to_cose()
    assert P256PublicKey.from_cose(cose) == key
    assert P256PublicKey.from_cose(cose) == key  # the cached answer
    assert P256PublicKey.from_cose(bytearray(cose)) == key  # type: ignore[arg-type]  # full path
    broken = cose[:-1]
    for _ in range(2):  # a refusal is raised every time, never remembered as a key
        with raises_rule(ErrorCode.TRUNCATED_CBOR):
            P256PublicKey.from_cose(broken)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, (1 << 32) - 1), st.text(min_size=1, max_size=30))
def test_created_authenticator_data_equals_parsed(flag_bits: int, counter: int, rp_id: str) -> None:
    created = AuthenticatorData.create(rp_id=rp_id, flags=AuthenticatorFlags(flag_bits), counter=counter)
    parsed = AuthenticatorData(bytes(created))
    assert bytes(created) == bytes(parsed)
    assert created.rp_id_hash == parsed.rp_id_hash
    assert created.flags == parsed.flags
    assert type(created.flags) is type(parsed.flags)
    assert created.counter == parsed.counter
    assert created.attested_credential is parsed.attested_credential is None
    assert created.extensions is parsed.extensions is None


@pytest.mark.parametrize("cross", [1, 0, "false", [], {}])
def test_client_data_cross_origin_must_be_a_real_boolean(cross: object) -> None:
    # The shortcut writes only None/True/False itself; anything else takes the full path and is refused there.
    with raises_rule(
        ErrorCode.INVALID_CLIENT_DATA, ErrorCode.CLIENT_DATA_NOT_JSON, ErrorCode.DUPLICATE_CLIENT_DATA_KEY
    ):
        CollectedClientData.create(
            type="webauthn.get",
            challenge=b"\x01",
            origin="https://example.com",
            cross_origin=cross,  # type: ignore[arg-type]
        )


def _mutations() -> st.SearchStrategy[bytes]:
    """Canonical DER signatures, some with one byte changed, cut or extended: near misses of the fast path."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from sso_signer.webauthn._p256 import P256_N

    der = st.builds(encode_dss_signature, st.integers(0, 1 << 264), st.integers(0, P256_N + 5))

    def mutate(data: bytes, position: int, value: int, action: int) -> bytes:
        position %= len(data)
        if action == 0:
            return data
        if action == 1:
            return data[:position] + bytes([value]) + data[position + 1 :]
        if action == 2:
            return data[:position]
        return data + bytes([value])

    return st.builds(mutate, der, st.integers(0, 80), st.integers(0, 255), st.integers(0, 3))


@settings(max_examples=2000, deadline=None)
@given(st.one_of(_mutations(), st.binary(max_size=80)))
def test_der_fast_path_agrees_with_the_full_parser(data: bytes) -> None:
    from sso_signer.webauthn._p256 import _canonical_der_fast, _parse_der

    fast = _canonical_der_fast(data)
    try:
        full: tuple[int, int] | type[Exception] = _parse_der(data)
    except Exception as exc:  # noqa: BLE001 - the outcome is compared, whatever it is
        full = type(exc)
    if fast is not None:
        assert fast == full  # the fast path accepts only what the full parser accepts, with the same values
    elif isinstance(full, tuple):
        # Declined but parsed: only for values no P-256 signature has (they fail the range check anyway).
        from sso_signer.webauthn._p256 import P256_N

        r, s = full
        assert not (0 < r < P256_N and 0 < s < P256_N)


def test_der_fast_path_takes_every_canonical_signature() -> None:
    from sso_signer.webauthn._p256 import _canonical_der_fast

    passkey = HeadlessPasskey.generate(rp_id="example.com", origin="https://example.com")
    for i in range(200):
        der = passkey.sign(i.to_bytes(32, "big")).signature
        assert _canonical_der_fast(der) == (EcdsaSignature.from_der(der).r, EcdsaSignature.from_der(der).s)


def test_headless_assertions_equal_checked_ones() -> None:
    # HeadlessPasskey.sign builds its Assertion without re-checking its own parts.
    from sso_signer.webauthn import Assertion

    passkey = HeadlessPasskey.generate(rp_id="example.com", origin="https://example.com")
    for i in range(50):
        fast = passkey.sign(i.to_bytes(32, "big"), cross_origin=None if i % 2 else False)
        checked = Assertion(
            fast.credential_id, fast.authenticator_data, fast.client_data, fast.signature, fast.user_handle
        )
        assert fast == checked
        assert fast.ecdsa_signature == checked.ecdsa_signature == EcdsaSignature.from_der(fast.signature)
        assert Assertion.from_json(fast.to_json()) == fast


def test_headless_passkey_refuses_a_user_handle_no_assertion_can_carry() -> None:
    from sso_signer.webauthn._assertion import MAX_USER_HANDLE

    site = "example.com"
    HeadlessPasskey.generate(rp_id=site, origin=f"https://{site}", user_handle=bytes(MAX_USER_HANDLE))
    with raises_rule(ErrorCode.FIELD_TOO_LARGE, match="user handle"):
        HeadlessPasskey.generate(rp_id=site, origin=f"https://{site}", user_handle=bytes(MAX_USER_HANDLE + 1))
