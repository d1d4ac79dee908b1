"""Fat signature, Era customSignature and ERC-4337 signature blobs against the official vectors."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer._codec import b64url_decode, hex_decode
from sso_signer.exceptions import ErrorCode
from sso_signer.sso import FatSignature, era_custom_signature, erc4337_passkey_signature
from sso_signer.sso._signature import (
    EraCustomSignature,
    decode_era_custom_signature,
    decode_erc4337_passkey_signature,
)
from sso_signer.webauthn._p256 import P256_HALF_N, P256_N, EcdsaSignature
from tests.errors import raises_rule

VALIDATOR_V1 = "0x006ecc2D79242F1986b7cb5F636d6E3f499f1026"


def _vector1_fat(v1: dict[str, Any]) -> FatSignature:
    response = v1["verbatim"]["response"]
    return FatSignature.from_der(
        authenticator_data=b64url_decode(response["response"]["authenticatorData"]),
        client_data_json=b64url_decode(response["response"]["clientDataJSON"]),
        der_signature=b64url_decode(response["response"]["signature"]),
        credential_id=b64url_decode(response["rawId"]),
    )


def test_vector1_der_is_high_s_and_gets_normalised(era_vectors: dict[str, Any]) -> None:
    v1 = era_vectors["vector1_clave_signed_challenge"]
    derived = v1["derived"]
    raw = EcdsaSignature.from_der(b64url_decode(v1["verbatim"]["response"]["response"]["signature"]))
    assert raw.s == int(derived["s_der_high"], 16)
    assert raw.s > P256_HALF_N
    fat = _vector1_fat(v1)
    assert fat.r == int(derived["r"], 16)
    assert fat.s == int(derived["s_normalized_low"], 16) == P256_N - raw.s


def test_vector1_custom_signature_equals_sdk(era_vectors: dict[str, Any]) -> None:
    v1 = era_vectors["vector1_clave_signed_challenge"]
    expected = hex_decode(v1["derived"][f"fullCustomSignature_validator_{VALIDATOR_V1}"])
    fat = _vector1_fat(v1)
    assert era_custom_signature(fat, VALIDATOR_V1) == expected
    assert era_custom_signature(fat.encode(), VALIDATOR_V1.lower()) == expected
    decoded = decode_era_custom_signature(expected)
    assert decoded.validator == VALIDATOR_V1
    assert decoded.validator_data == (b"",)
    assert decoded.fat_signature == fat
    assert decoded.fat_signature.client_data_json == v1["derived"]["clientDataJSONText"].encode()


def test_vector3_rust_sdk_full_signature(era_vectors: dict[str, Any]) -> None:
    v3 = era_vectors["vector3_rust_sdk_full_signature"]
    der = b64url_decode(v3["signature_der_b64u"])
    assert der == hex_decode(v3["der_signature_hex"])
    assert EcdsaSignature.from_der(der).s == int(v3["s_before_normalization"], 16)
    fat = FatSignature.from_der(
        authenticator_data=b64url_decode(v3["authenticator_data_b64u"]),
        client_data_json=b64url_decode(v3["client_data_json_b64u"]),
        der_signature=der,
        credential_id=b64url_decode(v3["credential_id_b64u"]),
    )
    assert fat.r_bytes.hex() == v3["expected_r"]
    assert fat.s_bytes.hex() == v3["expected_s_normalized"]
    blob = era_custom_signature(fat, v3["validator"])
    assert blob == hex_decode(v3["expected_full_signature"])
    assert len(blob) == 736
    assert decode_era_custom_signature(blob).fat_signature == fat


@pytest.mark.parametrize("index", [0, 1, 2])
def test_vector5_fat_signature_abi(era_vectors: dict[str, Any], index: int) -> None:
    case = era_vectors["vector5_ethers_fat_signature_abi"]["cases"][index]
    fat = FatSignature(
        authenticator_data=hex_decode(case["authenticatorData"]),
        client_data_json=case["clientDataJSON"].encode("utf-8"),
        r=int(case["r"], 16),
        s=int(case["s"], 16),
        credential_id=hex_decode(case["credentialId"]),
    )
    expected = hex_decode(case["expected"])
    assert fat.encode() == expected
    assert FatSignature.decode(expected) == fat


def test_erc4337_form_is_validator_then_fat(era_vectors: dict[str, Any]) -> None:
    fat = _vector1_fat(era_vectors["vector1_clave_signed_challenge"])
    validator = "0x1234567890123456789012345678901234567890"
    blob = erc4337_passkey_signature(validator, fat)
    assert blob[:20] == bytes.fromhex(validator[2:])
    assert blob[20:] == fat.encode()
    assert decode_erc4337_passkey_signature(blob) == (validator, fat)


def test_erc4337_sdk_stub_signature_decodes(erc4337_vectors: dict[str, Any]) -> None:
    stub = next(v for v in erc4337_vectors["vectors"] if v["id"] == "sdk_passkey_stub_signature")
    fat = FatSignature.decode(hex_decode(stub["fatSignature"]))
    assert fat.authenticator_data[32] == 0x01  # the stub's flags: UP only (why the 4337 validator reverts)
    assert fat.encode() == hex_decode(stub["fatSignature"])


def test_plain_bytes_envelope_round_trips(era_vectors: dict[str, Any]) -> None:
    fat = _vector1_fat(era_vectors["vector1_clave_signed_challenge"])
    blob = era_custom_signature(fat, VALIDATOR_V1, validator_data=b"")
    assert blob == abi_encode(["bytes", "address", "bytes"], [fat.encode(), VALIDATOR_V1, b""])
    decoded = decode_era_custom_signature(blob)
    assert decoded.validator_data == b""
    assert decoded.encode() == blob


# --- bad input: one typed error each ---------------------------------------------------------------------


def test_malformed_der_is_rejected() -> None:
    with raises_rule(ErrorCode.INVALID_DER_SIGNATURE, ErrorCode.NON_CANONICAL_DER):
        FatSignature.from_der(
            authenticator_data=b"\x00" * 37,
            client_data_json=b"{}",
            der_signature=bytes.fromhex("3006020101020101ff"),  # trailing garbage after the sequence
            credential_id=b"\x01" * 16,
        )


@pytest.mark.parametrize("bad", [b"\x01" * 31, b"\x01" * 33, -1, 1 << 256])
def test_wrong_length_r_or_s_is_rejected(bad: int | bytes) -> None:
    with raises_rule(ErrorCode.SIGNATURE_COMPONENT):
        FatSignature(b"", b"", bad, 1, b"")  # type: ignore[arg-type]
    with raises_rule(ErrorCode.SIGNATURE_COMPONENT):
        FatSignature(b"", b"", 1, bad, b"")  # type: ignore[arg-type]


def test_undecodable_fat_signature_is_rejected() -> None:
    good = FatSignature(b"\x05" * 37, b'{"a":1}', 1, 2, b"\x07" * 16).encode()
    for bad in (b"", good[:100], b"\xff" * 160):
        with raises_rule(ErrorCode.INVALID_FAT_SIGNATURE, ErrorCode.NON_CANONICAL_FAT_SIGNATURE):
            FatSignature.decode(bad)


def test_non_canonical_fat_signature_is_rejected() -> None:
    good = FatSignature(b"\x05" * 37, b'{"a":1}', 1, 2, b"\x07" * 16).encode()
    with raises_rule(ErrorCode.NON_CANONICAL_FAT_SIGNATURE):
        FatSignature.decode(good + b"\x00" * 32)


def test_undecodable_custom_signature_is_rejected() -> None:
    with raises_rule(ErrorCode.INVALID_CUSTOM_SIGNATURE, ErrorCode.NON_CANONICAL_CUSTOM_SIGNATURE):
        decode_era_custom_signature(b"\x00" * 40)
    with raises_rule(ErrorCode.NON_CANONICAL_CUSTOM_SIGNATURE):
        decode_era_custom_signature(era_custom_signature(b"\x01", VALIDATOR_V1) + b"\x00")


def test_short_erc4337_signature_is_rejected() -> None:
    with raises_rule(ErrorCode.INVALID_ERC4337_SIGNATURE):
        decode_erc4337_passkey_signature(b"\x11" * 20)


@pytest.mark.parametrize(
    "address",
    ["0x123", "0x006ecc2D79242F1986b7cb5F636d6E3f499f1027x", "0x006Ecc2D79242F1986b7cb5F636d6E3f499f1026"],
)
def test_bad_validator_address_is_rejected(address: str) -> None:
    with raises_rule(ErrorCode.INVALID_ADDRESS):
        era_custom_signature(b"", address)


# --- hypothesis round trips ------------------------------------------------------------------------------

_words = st.integers(min_value=0, max_value=(1 << 256) - 1)
_fats = st.builds(
    FatSignature,
    authenticator_data=st.binary(max_size=300),
    client_data_json=st.binary(max_size=400),
    r=_words,
    s=_words,
    credential_id=st.binary(max_size=120),
)
_addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


@settings(max_examples=150, deadline=None)
@given(fat=_fats)
def test_fat_signature_round_trip(fat: FatSignature) -> None:
    blob = fat.encode()
    assert len(blob) % 32 == 0
    assert FatSignature.decode(blob) == fat


@settings(max_examples=150, deadline=None)
@given(fat=_fats, validator=_addresses, plain=st.booleans())
def test_custom_signature_round_trip(fat: FatSignature, validator: str, plain: bool) -> None:
    blob = era_custom_signature(fat, validator, validator_data=b"" if plain else (b"",))
    decoded = decode_era_custom_signature(blob)
    assert isinstance(decoded, EraCustomSignature)
    assert decoded.validator.lower() == validator
    assert decoded.validator_data == (b"" if plain else (b"",))
    assert decoded.fat_signature == fat
    assert decoded.encode() == blob


@settings(max_examples=100, deadline=None)
@given(fat=_fats, validator=_addresses)
def test_erc4337_signature_round_trip(fat: FatSignature, validator: str) -> None:
    got_validator, got_fat = decode_erc4337_passkey_signature(erc4337_passkey_signature(validator, fat))
    assert got_validator.lower() == validator
    assert got_fat == fat
