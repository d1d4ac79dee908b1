"""P-256 keys, strict DER, COSE keys and CBOR framing."""

from __future__ import annotations

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from sso_signer.exceptions import ErrorCode, SsoSignerError
from sso_signer.webauthn import P256PublicKey
from sso_signer.webauthn._p256 import P256_HALF_N, P256_N, EcdsaSignature
from tests.errors import raises_rule

P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
scalars = st.integers(min_value=1, max_value=P256_N - 1)


def _key() -> P256PublicKey:
    return P256PublicKey.from_cryptography(ec.generate_private_key(ec.SECP256R1()))


def _cose(**overrides: object) -> bytes:
    key = _key()
    fields: dict[int, object] = {1: 2, 3: -7, -1: 1, -2: key.x_bytes, -3: key.y_bytes}
    for name, value in overrides.items():
        label = {"kty": 1, "alg": 3, "crv": -1, "x": -2, "y": -3}[name]
        if value is None:
            del fields[label]
        else:
            fields[label] = value
    return cbor2.dumps(fields)


# --- keys -----------------------------------------------------------------------------------------


def test_point_must_be_on_curve() -> None:
    key = _key()
    with raises_rule(ErrorCode.POINT_NOT_ON_CURVE):
        P256PublicKey(key.x, (key.y + 1) % P256_P)
    with raises_rule(ErrorCode.POINT_NOT_ON_CURVE):
        P256PublicKey(key.x, key.y + P256_P)  # unreduced coordinate
    with raises_rule(ErrorCode.POINT_NOT_ON_CURVE):
        P256PublicKey(0, 0)


def test_uncompressed_round_trip_and_errors() -> None:
    key = _key()
    assert P256PublicKey.from_uncompressed(key.to_uncompressed()) == key
    assert P256PublicKey.from_uncompressed(key.x_bytes + key.y_bytes) == key
    with raises_rule(ErrorCode.POINT_NOT_ON_CURVE):
        P256PublicKey.from_uncompressed(b"\x02" + key.x_bytes)  # compressed form is not accepted
    with raises_rule(ErrorCode.POINT_NOT_ON_CURVE):
        P256PublicKey.from_uncompressed(key.to_uncompressed()[:-1])


def test_cryptography_round_trip_and_wrong_curve() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = P256PublicKey.from_cryptography(private)
    assert P256PublicKey.from_cryptography(key.to_cryptography()) == key
    with raises_rule(ErrorCode.UNSUPPORTED_ALGORITHM, match="P-256"):
        P256PublicKey.from_cryptography(ec.generate_private_key(ec.SECP384R1()))
    with raises_rule(ErrorCode.UNSUPPORTED_ALGORITHM):
        P256PublicKey.from_cryptography(ec.generate_private_key(ec.SECP256K1()))


# --- signatures -----------------------------------------------------------------------------------


def test_signature_range() -> None:
    for r, s in ((0, 1), (1, 0), (P256_N, 1), (1, P256_N), (-1, 1)):
        with raises_rule(ErrorCode.SIGNATURE_OUT_OF_RANGE):
            EcdsaSignature(r, s)
    with raises_rule(ErrorCode.SIGNATURE_OUT_OF_RANGE):
        EcdsaSignature.from_bytes(bytes(63))


def test_normalisation_boundary() -> None:
    assert EcdsaSignature(1, P256_HALF_N).is_low_s
    high = EcdsaSignature(1, P256_HALF_N + 1)
    assert not high.is_low_s
    assert high.normalized() == EcdsaSignature(1, P256_N - P256_HALF_N - 1)
    assert high.normalized().is_low_s


@pytest.mark.parametrize(
    ("der", "error"),
    [
        (b"", ErrorCode.INVALID_DER_SIGNATURE),
        (b"\x31\x06\x02\x01\x01\x02\x01\x01", ErrorCode.INVALID_DER_SIGNATURE),  # SET, not SEQUENCE
        (b"\x30\x07\x02\x01\x01\x02\x01\x01", ErrorCode.INVALID_DER_SIGNATURE),  # length too long
        (b"\x30\x06\x02\x01\x01\x02\x01\x01\x00", ErrorCode.INVALID_DER_SIGNATURE),  # trailing byte
        (b"\x30\x06\x02\x01\x01\x02\x01", ErrorCode.INVALID_DER_SIGNATURE),  # truncated
        (b"\x30\x81\x06\x02\x01\x01\x02\x01\x01", ErrorCode.NON_CANONICAL_DER),  # long-form length
        (b"\x30\x07\x02\x02\x00\x01\x02\x01\x01", ErrorCode.NON_CANONICAL_DER),  # leading zero on r
        (b"\x30\x06\x02\x01\x81\x02\x01\x01", ErrorCode.NON_CANONICAL_DER),  # negative r
        (b"\x30\x05\x02\x00\x02\x01\x01", ErrorCode.INVALID_DER_SIGNATURE),  # empty integer
        (b"\x30\x06\x02\x01\x00\x02\x01\x01", ErrorCode.SIGNATURE_OUT_OF_RANGE),  # r = 0
        (
            b"\x30\x06\x04\x01\x01\x02\x01\x01",
            ErrorCode.INVALID_DER_SIGNATURE,
        ),  # OCTET STRING instead of INTEGER
    ],
)
def test_der_strictness(der: bytes, error: ErrorCode) -> None:
    with raises_rule(error):
        EcdsaSignature.from_der(der)


@given(scalars, scalars)
def test_der_and_raw_round_trip(r: int, s: int) -> None:
    sig = EcdsaSignature(r, s)
    assert EcdsaSignature.from_der(sig.to_der()) == sig
    assert EcdsaSignature.from_bytes(sig.to_bytes()) == sig
    assert sig.normalized().is_low_s
    assert sig.normalized().normalized() == sig.normalized()


@given(st.binary(max_size=80))
def test_der_arbitrary_bytes_raise_typed_errors(data: bytes) -> None:
    try:
        sig = EcdsaSignature.from_der(data)
    except SsoSignerError:
        return
    assert sig.to_der() == data  # anything accepted is the canonical encoding


def test_verify_high_and_low_s() -> None:
    from cryptography.hazmat.primitives import hashes

    private = ec.generate_private_key(ec.SECP256R1())
    key = P256PublicKey.from_cryptography(private)
    sig = EcdsaSignature.from_der(private.sign(b"msg", ec.ECDSA(hashes.SHA256())))
    flipped = EcdsaSignature(sig.r, P256_N - sig.s)
    assert key.verify(sig, b"msg")
    assert key.verify(flipped, b"msg")
    assert not key.verify(sig, b"other")
    assert not _key().verify(sig, b"msg")


# --- COSE -----------------------------------------------------------------------------------------


def test_cose_round_trip() -> None:
    key = _key()
    assert P256PublicKey.from_cose(key.to_cose()) == key
    assert P256PublicKey.from_cose(key.to_cose()) == key
    assert len(key.to_cose()) == 77


@pytest.mark.parametrize(
    "overrides",
    [
        {"alg": -257},
        {"alg": -8},
        {"alg": -35},
        {"kty": 3},
        {"kty": 1, "crv": 6, "alg": -8},
        {"crv": 2},
        {"alg": True},
    ],
)
def test_cose_rejects_everything_but_es256(overrides: dict[str, object]) -> None:
    with raises_rule(ErrorCode.UNSUPPORTED_ALGORITHM, match="only verifies P-256"):
        P256PublicKey.from_cose(_cose(**overrides))


def test_cose_rejects_real_rsa_and_eddsa_keys() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()
    rs256 = cbor2.dumps({1: 3, 3: -257, -1: rsa_key.n.to_bytes(256, "big"), -2: rsa_key.e.to_bytes(3, "big")})
    with raises_rule(ErrorCode.UNSUPPORTED_ALGORITHM):
        P256PublicKey.from_cose(rs256)
    from cryptography.hazmat.primitives import serialization

    raw = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    with raises_rule(ErrorCode.UNSUPPORTED_ALGORITHM):
        P256PublicKey.from_cose(cbor2.dumps({1: 1, 3: -8, -1: 6, -2: raw}))


@pytest.mark.parametrize(
    "overrides",
    [{"x": b"\x01" * 31}, {"y": b"\x01" * 33}, {"x": 5}, {"y": None}, {"alg": None}, {"kty": None}],
)
def test_cose_malformed_fields(overrides: dict[str, object]) -> None:
    with raises_rule(ErrorCode.INVALID_COSE_KEY, ErrorCode.UNSUPPORTED_ALGORITHM):
        P256PublicKey.from_cose(_cose(**overrides))


def test_cose_off_curve() -> None:
    key = _key()
    off = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: key.x_bytes, -3: ((key.y + 1) % P256_P).to_bytes(32, "big")})
    with raises_rule(ErrorCode.POINT_NOT_ON_CURVE):
        P256PublicKey.from_cose(off)


def test_cose_cbor_framing() -> None:
    good = _key().to_cose()
    with raises_rule(ErrorCode.TRUNCATED_CBOR):
        P256PublicKey.from_cose(good[:-1])
    with raises_rule(ErrorCode.TRAILING_CBOR):
        P256PublicKey.from_cose(good + b"\x00")
    with raises_rule(ErrorCode.INVALID_CBOR):
        P256PublicKey.from_cose(b"\xff")
    with raises_rule(ErrorCode.INVALID_COSE_KEY, ErrorCode.UNSUPPORTED_ALGORITHM):
        P256PublicKey.from_cose(cbor2.dumps([1, 2]))


def test_cose_refuses_repeated_labels() -> None:
    key = _key()
    pairs = [(1, 2), (3, -7), (-1, 1), (-2, key.x_bytes), (-3, key.y_bytes)]
    for extra in ((-2, bytes(32)), (1, 2), (True, 2)):  # True is the Python key 1
        cose = bytes([0xA6]) + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in [*pairs, extra])
        with raises_rule(ErrorCode.INVALID_CBOR, match="repeats a map key"):
            P256PublicKey.from_cose(cose)


@given(st.binary(max_size=120))
def test_cose_arbitrary_bytes_raise_typed_errors(data: bytes) -> None:
    try:
        key = P256PublicKey.from_cose(data)
    except SsoSignerError:
        return
    assert isinstance(key, P256PublicKey)


@given(scalars)
def test_cose_round_trip_many_keys(k: int) -> None:
    public = ec.derive_private_key(k, ec.SECP256R1()).public_key()
    key = P256PublicKey.from_cryptography(public)
    assert P256PublicKey.from_cose(key.to_cose()) == key


cbor_values = st.recursive(
    st.one_of(st.integers(-300, 300), st.binary(max_size=40), st.text(max_size=5), st.booleans(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.integers(-4, 4), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.integers(-4, 4), cbor_values, max_size=6))
def test_cose_arbitrary_maps_raise_typed_errors(fields: dict[int, object]) -> None:
    try:
        key = P256PublicKey.from_cose(cbor2.dumps(fields))
    except SsoSignerError:
        return
    assert isinstance(key, P256PublicKey)


def test_cose_unhashable_labels_are_reported() -> None:
    with raises_rule(ErrorCode.UNSUPPORTED_ALGORITHM):
        P256PublicKey.from_cose(cbor2.dumps({1: [2], 3: -7}))
    with raises_rule(ErrorCode.UNSUPPORTED_ALGORITHM):
        P256PublicKey.from_cose(cbor2.dumps({1: 2, 3: {"a": 1}}))
