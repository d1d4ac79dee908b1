"""Preflight: each validator rule fails on its own, with its rule id and per-generation on-chain outcome."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from sso_signer._codec import b64url_decode, b64url_encode, hex_decode
from sso_signer.exceptions import AssertionRejected, ErrorCode
from sso_signer.sso import FatSignature, _preflight, era_custom_signature, preflight
from sso_signer.sso._preflight import decode_challenge, parse_client_data_json
from sso_signer.sso._signature import decode_era_custom_signature
from sso_signer.webauthn import HeadlessPasskey, P256PublicKey
from sso_signer.webauthn._p256 import P256_HALF_N, P256_N, EcdsaSignature
from tests.errors import raises_rule

ORIGIN = "https://app.example"
CRED = bytes(range(1, 21))
KEY = ec.generate_private_key(ec.SECP256R1())
PUB = P256PublicKey.from_cryptography(KEY.public_key())
HASH = hashlib.sha256(b"the transaction").digest()
KEYS = {(ORIGIN, CRED): PUB}
VALIDATORS = ["era", "erc4337"]
OUTCOMES = {
    v: {rule: outcomes[i] for rule, outcomes in _preflight._OUTCOMES.items()}
    for i, v in enumerate(VALIDATORS)
}


def _auth(flags: int = 0x05) -> bytes:
    return hashlib.sha256(b"app.example").digest() + bytes([flags]) + b"\x00\x00\x00\x00"


def _cdj(**fields: Any) -> bytes:
    body: dict[str, Any] = {
        "type": "webauthn.get",
        "challenge": b64url_encode(HASH),
        "origin": ORIGIN,
        "crossOrigin": False,
    }
    for name, value in fields.items():
        if value is _DROP:
            body.pop(name, None)
        else:
            body[name] = value
    return json.dumps(body, separators=(",", ":")).encode()


_DROP = object()


def _fat(
    auth: bytes | None = None,
    cdj: bytes | None = None,
    *,
    key: ec.EllipticCurvePrivateKey = KEY,
    low_s: bool = True,
) -> FatSignature:
    auth = _auth() if auth is None else auth
    cdj = _cdj() if cdj is None else cdj
    der = key.sign(auth + hashlib.sha256(cdj).digest(), ec.ECDSA(hashes.SHA256()))
    sig = EcdsaSignature.from_der(der).normalized()
    if not low_s:
        sig = EcdsaSignature(sig.r, P256_N - sig.s)
    return FatSignature(auth, cdj, sig.r, sig.s, CRED)


def _with(fat: FatSignature, **changes: Any) -> FatSignature:
    return dataclasses.replace(fat, **changes)


def _expect(validator: str, fat: FatSignature | bytes, rule: ErrorCode, keys: object = None) -> None:
    with pytest.raises(AssertionRejected) as info:
        preflight(validator, HASH, fat, KEYS if keys is None else keys)  # type: ignore[arg-type]
    assert info.value.rule == rule
    assert info.value.outcome == OUTCOMES[validator][rule]
    assert info.value.validator == validator


# --- passing signatures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("validator", VALIDATORS)
def test_good_signature_passes(validator: str) -> None:
    result = preflight(validator, HASH, _fat(), KEYS)  # type: ignore[arg-type]
    assert result.public_key == PUB
    assert result.origin == ORIGIN
    assert result.credential_id == CRED
    assert result.message == hashlib.sha256(_auth() + hashlib.sha256(_cdj()).digest()).digest()


def test_vector1_real_authenticator_passes_after_normalisation(era_vectors: dict[str, Any]) -> None:
    v1 = era_vectors["vector1_clave_signed_challenge"]
    derived = v1["derived"]
    response = v1["verbatim"]["response"]
    fat = FatSignature.from_der(
        authenticator_data=b64url_decode(response["response"]["authenticatorData"]),
        client_data_json=b64url_decode(response["response"]["clientDataJSON"]),
        der_signature=b64url_decode(response["response"]["signature"]),
        credential_id=b64url_decode(response["rawId"]),
    )
    key = P256PublicKey(int(derived["pubKeyX"], 16), int(derived["pubKeyY"], 16))
    keys = {(derived["originKey"], fat.credential_id): key}
    challenge = hex_decode(derived["challengeBytes32"])
    result = preflight("era", challenge, fat, keys)
    assert result.message == hex_decode(derived["p256MessageHash_sha256_authData_sha256cdj"])
    assert preflight("erc4337", challenge, fat.encode(), keys).public_key == key
    # The same bytes with the authenticator's original high s fail the low-s rule.
    raw_s = int(derived["s_der_high"], 16)
    with raises_rule(ErrorCode.LOW_S):
        preflight(
            "era",
            challenge,
            _with(fat, s=raw_s),
            keys,
        )
    # A full customSignature is accepted too (its fat part is checked).
    custom = decode_era_custom_signature(
        era_custom_signature(fat, "0x006ecc2D79242F1986b7cb5F636d6E3f499f1026")
    )
    assert preflight("era", challenge, custom, keys).origin == derived["originKey"]


def test_headless_passkey_assertions_pass_both_rule_sets() -> None:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost:5173")
    high_seen = False
    for _ in range(24):
        challenge = os.urandom(32)
        assertion = passkey.sign(challenge)
        high_seen |= assertion.ecdsa_signature.s > P256_HALF_N
        fat = FatSignature.from_assertion(assertion)
        assert fat.s <= P256_HALF_N
        assert preflight("era", challenge, fat, passkey.credential).public_key == passkey.public_key
        assert preflight("erc4337", challenge, fat, [passkey]).public_key == passkey.public_key
    assert high_seen, "no high s in 24 raw signatures (p = 2**-24)"


def test_safari_style_missing_cross_origin_and_extra_keys_pass() -> None:
    cdj = _cdj(crossOrigin=_DROP, other_keys_can_be_added_here="x", topOrigin="https://top.example")
    for validator in VALIDATORS:
        assert preflight(validator, HASH, _fat(cdj=cdj), KEYS).origin == ORIGIN  # type: ignore[arg-type]


def test_key_given_as_coordinates() -> None:
    assert preflight("era", HASH, _fat(), {(ORIGIN, CRED): (PUB.x, PUB.y)}).public_key == PUB


# --- one negative test per rule, for both validators -----------------------------------------------------


@pytest.mark.parametrize("validator", VALIDATORS)
def test_rule_abi_decode(validator: str) -> None:
    _expect(validator, b"\x01" * 100, ErrorCode.ABI_DECODE)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_rule_rs_range(validator: str) -> None:
    good = _fat()
    _expect(
        validator,
        _with(good, r=0),
        ErrorCode.RS_RANGE,
    )
    _expect(
        validator,
        _with(good, s=0),
        ErrorCode.RS_RANGE,
    )


def test_r_equal_n_passes_era_range_but_fails_p256() -> None:
    good = _fat()
    bad = _with(good, r=P256_N)
    _expect(
        "era", bad, ErrorCode.SIGNATURE_INVALID
    )  # the official bound is r <= n; the precompile rejects r = n
    _expect("erc4337", bad, ErrorCode.RS_RANGE)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_rule_low_s(validator: str) -> None:
    _expect(validator, _fat(low_s=False), ErrorCode.LOW_S)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_rule_auth_data_length(validator: str) -> None:
    _expect(validator, _fat(auth=_auth()[:32]), ErrorCode.AUTH_DATA_LENGTH)


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize("flags", [0x01, 0x04, 0x00, 0x1D & ~0x04])
def test_rule_flags_up_uv(validator: str, flags: int) -> None:
    _expect(validator, _fat(auth=_auth(flags)), ErrorCode.FLAGS_UP_UV)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_rule_client_data_json(validator: str) -> None:
    _expect(validator, _fat(cdj=b'{"type":"webauthn.get",'), ErrorCode.CLIENT_DATA_JSON)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_rule_challenge_present(validator: str) -> None:
    _expect(validator, _fat(cdj=_cdj(challenge=_DROP)), ErrorCode.CHALLENGE_PRESENT)
    _expect(validator, _fat(cdj=_cdj(challenge=12)), ErrorCode.CHALLENGE_PRESENT)


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize(
    "challenge",
    [b64url_encode(hashlib.sha256(b"other").digest()), b64url_encode(HASH[:31]), b64url_encode(HASH) + "!!"],
)
def test_rule_challenge(validator: str, challenge: str) -> None:
    _expect(validator, _fat(cdj=_cdj(challenge=challenge)), ErrorCode.CHALLENGE_HASH)


def test_standard_base64_challenge_is_accepted_like_solady() -> None:
    import base64

    std = base64.b64encode(HASH).decode()
    assert preflight("era", HASH, _fat(cdj=_cdj(challenge=std)), KEYS).origin == ORIGIN


@pytest.mark.parametrize("validator", VALIDATORS)
def test_rule_type(validator: str) -> None:
    _expect(validator, _fat(cdj=_cdj(type="webauthn.create")), ErrorCode.CLIENT_DATA_TYPE)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_rule_key_lookup(validator: str) -> None:
    _expect(validator, _fat(cdj=_cdj(origin="https://evil.example")), ErrorCode.KEY_LOOKUP)
    _expect(validator, _fat(), ErrorCode.KEY_LOOKUP, keys={(ORIGIN, b"\x09" * 16): PUB})


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize("value", [True, "false", 0, None])
def test_rule_cross_origin(validator: str, value: object) -> None:
    _expect(validator, _fat(cdj=_cdj(crossOrigin=value)), ErrorCode.CROSS_ORIGIN)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_rule_p256(validator: str) -> None:
    _expect(validator, _fat(key=ec.generate_private_key(ec.SECP256R1())), ErrorCode.SIGNATURE_INVALID)
    # A stored key that is not on the curve: the precompile answers empty, i.e. invalid.
    _expect(validator, _fat(), ErrorCode.SIGNATURE_INVALID, keys={(ORIGIN, CRED): (PUB.x, PUB.y ^ 1)})


def test_erc4337_revert_wins_over_an_earlier_false_rule() -> None:
    fat = _fat(cdj=_cdj(challenge=b64url_encode(b"\x00" * 32), crossOrigin=True))
    _expect(
        "era", fat, ErrorCode.CHALLENGE_HASH
    )  # Era returns false at the challenge and never looks further
    _expect("erc4337", fat, ErrorCode.CROSS_ORIGIN)  # ERC-4337 keeps going and reverts on crossOrigin


def test_rule_tables_cover_every_rule_once() -> None:
    ids = list(_preflight._OUTCOMES)
    assert len(ids) == len(set(ids)) == 12
    assert set(OUTCOMES["era"]) == set(OUTCOMES["erc4337"]) == set(ids)
    differ = {rule for rule in ids if OUTCOMES["era"][rule] != OUTCOMES["erc4337"][rule]}
    assert differ == {"flags_up_uv", "client_data_type", "cross_origin"}


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["abc$", "ab cd", "a" * 43 + "==="])
def test_challenge_wrong_alphabet(text: str) -> None:
    with raises_rule(ErrorCode.CHALLENGE_ENCODING):
        decode_challenge(text)


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_challenge_wrong_length(size: int) -> None:
    with raises_rule(ErrorCode.CHALLENGE_LENGTH):
        decode_challenge(b64url_encode(b"\x07" * size))


def test_challenge_decodes_both_alphabets() -> None:
    import base64

    data = bytes([0xFB, 0xFF] * 16)
    assert decode_challenge(b64url_encode(data)) == data
    assert decode_challenge(base64.b64encode(data).decode()) == data


@pytest.mark.parametrize("data", [b"not json", b"\xff\xfe", b"[1,2]", b'{"a":NaN}', b""])
def test_client_data_not_json(data: bytes) -> None:
    with raises_rule(ErrorCode.CLIENT_DATA_NOT_JSON):
        parse_client_data_json(data)


def test_duplicate_keys_last_wins_like_solady() -> None:
    assert parse_client_data_json(b'{"type":"x","type":"webauthn.get"}')["type"] == "webauthn.get"


@pytest.mark.parametrize("keys", [{}, [], "nope", {("o", "not bytes"): PUB}])
def test_no_usable_keys(keys: object) -> None:
    with raises_rule(ErrorCode.NO_KEY_FOR_PREFLIGHT):
        preflight("era", HASH, _fat(), keys)


# --- edge cases where the contract's parser decides (checked against the chain in tests/contracts) --------


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize("value", [_DROP, 7, None, ["webauthn.get"]])
def test_type_that_is_not_a_string_reverts(validator: str, value: object) -> None:
    with raises_rule(ErrorCode.CLIENT_DATA_TYPE) as info:
        preflight(validator, HASH, _fat(cdj=_cdj(type=value)), KEYS)  # type: ignore[arg-type]
    assert info.value.outcome == "revert"


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize("value", [_DROP, 7, None])
def test_origin_that_is_not_a_string_reverts(validator: str, value: object) -> None:
    with raises_rule(ErrorCode.KEY_LOOKUP) as info:
        preflight(validator, HASH, _fat(cdj=_cdj(origin=value)), KEYS)  # type: ignore[arg-type]
    assert info.value.outcome == "revert"


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize("name", ["type", "challenge", "origin", "crossOrigin"])
def test_a_repeated_member_the_validators_read_is_not_json(validator: str, name: str) -> None:
    # The contracts' clientDataJSON reader refuses it (solady would take the last); a repeat under an escaped
    # spelling is refused too (any read name spelled with escapes is).
    good = _cdj()
    for spelling in (name, f"\\u{ord(name[0]):04x}{name[1:]}"):
        cdj = good[:-1] + b',"' + spelling.encode() + b'":false}'
        _expect(validator, _fat(cdj=cdj), ErrorCode.CLIENT_DATA_JSON)


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize("name", ["type", "challenge", "origin", "crossOrigin"])
def test_a_read_member_named_with_escapes_is_not_json(validator: str, name: str) -> None:
    # The official validators look members up by their raw name, so for them "\u0074ype" is not type (and a
    # clientDataJSON that only unescaping completes fails there): the contracts' reader refuses it outright.
    escaped = f"\\u{ord(name[0]):04x}{name[1:]}".encode()
    cdj = _cdj().replace(b'"' + name.encode() + b'":', b'"' + escaped + b'":')
    assert escaped in cdj
    _expect(validator, _fat(cdj=cdj), ErrorCode.CLIENT_DATA_JSON)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_escaped_names_that_are_not_read_are_allowed(validator: str) -> None:
    cdj = _cdj()[:-1] + b',"x":{"\\u0074ype":1},"\\u0074yp":2,"\\u0074ypeX":3,"y":["\\u0074ype"]}'
    assert preflight(validator, HASH, _fat(cdj=cdj), KEYS).origin == ORIGIN  # type: ignore[arg-type]


def _with_raw(name: str, raw_value: bytes) -> bytes:
    """The default clientDataJSON with one member's value replaced by raw JSON text."""
    cdj = _cdj(**{name: "@@"})
    return cdj.replace(b'"@@"', raw_value)


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize("name", ["challenge", "type", "origin"])
def test_a_high_surrogate_escape_without_a_pair_reverts_like_solady(validator: str, name: str) -> None:
    # solady's decodeString (used on challenge, type and origin by the official validators and ours) reverts
    # when no \u escape follows a high surrogate; JSON would keep the lone surrogate.
    value = {"challenge": b64url_encode(HASH), "type": "webauthn.get", "origin": ORIGIN}[name]
    cdj = _with_raw(name, b'"' + value.encode() + b'\\ud800"')
    _expect(validator, _fat(cdj=cdj), ErrorCode.CLIENT_DATA_JSON)


def test_the_era_validator_stops_at_a_wrong_challenge_before_decoding_the_type() -> None:
    cdj = _with_raw("type", b'"webauthn.get\\ud800"')
    with raises_rule(ErrorCode.CHALLENGE_HASH):
        preflight("era", bytes(32), _fat(cdj=cdj), KEYS)
    # ERC-4337 evaluates the challenge without returning early: the type's revert wins.
    with raises_rule(ErrorCode.CLIENT_DATA_JSON):
        preflight("erc4337", bytes(32), _fat(cdj=cdj), KEYS)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_the_origin_is_looked_up_by_the_bytes_solady_decodes(validator: str) -> None:
    # A high surrogate pairs with whatever \u escape follows (JSON would give two code points), a lone low
    # surrogate becomes bytes that are not UTF-8 (so no registered origin).
    paired = ORIGIN + "\U00010041"
    cdj = _with_raw("origin", b'"' + ORIGIN.encode() + b'\\ud800\\u0041"')
    keys = {(paired, CRED): PUB}
    assert preflight(validator, HASH, _fat(cdj=cdj), keys).origin == paired  # type: ignore[arg-type]
    lone_low = _with_raw("origin", b'"' + ORIGIN.encode() + b'\\udc00"')
    _expect(validator, _fat(cdj=lone_low), ErrorCode.KEY_LOOKUP)


def test_other_repeated_members_and_nested_repeats_are_allowed() -> None:
    cdj = _cdj()[:-1] + b',"x":1,"x":2,"tokenBinding":{"type":1,"type":2}}'
    preflight("erc4337", HASH, _fat(cdj=cdj), KEYS)
    preflight("era", HASH, _fat(cdj=cdj), KEYS)


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize("cdj", [b"[1,2]", b'"webauthn.get"', b"null"])
def test_json_that_is_not_an_object_misses_the_challenge(validator: str, cdj: bytes) -> None:
    _expect(validator, _fat(cdj=cdj), ErrorCode.CHALLENGE_PRESENT)


@pytest.mark.parametrize("validator", VALIDATORS)
def test_trailing_bytes_after_the_fat_signature_pass_like_abi_decode(validator: str) -> None:
    blob = _fat().encode() + bytes(32)
    with raises_rule(ErrorCode.NON_CANONICAL_FAT_SIGNATURE):
        FatSignature.decode(blob)
    assert preflight(validator, HASH, blob, KEYS).origin == ORIGIN  # type: ignore[arg-type]


# --- soundness: any change to what was signed is caught -------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    part=st.sampled_from(["auth", "cdj", "hash"]),
    position=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=7),
    validator=st.sampled_from(VALIDATORS),
)
def test_flipping_any_bit_fails_preflight(part: str, position: int, bit: int, validator: str) -> None:
    good = _fat()
    auth, cdj, signed_hash = (
        bytearray(good.authenticator_data),
        bytearray(good.client_data_json),
        bytearray(HASH),
    )
    target = {"auth": auth, "cdj": cdj, "hash": signed_hash}[part]
    target[position % len(target)] ^= 1 << bit
    fat = dataclasses.replace(good, authenticator_data=bytes(auth), client_data_json=bytes(cdj))
    with pytest.raises(AssertionRejected) as caught:
        preflight(validator, bytes(signed_hash), fat, KEYS)  # type: ignore[arg-type]
    assert caught.value.validator == validator  # a preflight rule, named with its on-chain outcome
    assert caught.value.outcome in ("revert", "return false")


def test_unknown_validator_kind() -> None:
    with raises_rule(ErrorCode.UNKNOWN_VALIDATOR_KIND):
        preflight("clave", HASH, _fat(), KEYS)  # type: ignore[arg-type]


# --- the raw reading behind the two rules above agrees with JSON where JSON and solady agree ---------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    members=st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=5),
    ensure_ascii=st.booleans(),
    spaced=st.booleans(),
)
def test_raw_members_and_solady_strings_match_json(
    members: dict[str, Any], ensure_ascii: bool, spaced: bool
) -> None:
    separators = (" , ", " : ") if spaced else (",", ":")
    text = json.dumps(members, ensure_ascii=ensure_ascii, separators=separators)
    raw = _preflight._top_level_members(text)
    assert [json.loads(name) for name, _ in raw] == list(members)
    assert [json.loads(value) for _, value in raw] == list(members.values())
    for _, value in raw:
        if value.startswith('"'):
            # text() has no lone surrogates, so JSON's bytes and solady's agree.
            assert _preflight._solady_string(value) == json.loads(value).encode()
