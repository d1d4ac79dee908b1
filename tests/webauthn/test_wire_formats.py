"""authenticatorData, clientDataJSON, base64url and assertion JSON: strict parsing and round trips."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer.exceptions import ErrorCode, SsoSignerError
from sso_signer.webauthn import Assertion, AuthenticatorData, HeadlessPasskey
from sso_signer.webauthn._authenticator_data import AttestedCredentialData, AuthenticatorFlags
from sso_signer.webauthn._client_data import MAX_CLIENT_DATA_JSON, CollectedClientData
from tests.errors import raises_rule

flags_st = st.sampled_from([0, 1, 4, 5, 0x0D, 0x1D, 0x19]).map(AuthenticatorFlags)


# --- base64url ---------------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert b64url_decode(text) == data


@given(st.text(max_size=60))
def test_b64url_arbitrary_text_raises_typed_errors(text: str) -> None:
    try:
        data = b64url_decode(text)
    except SsoSignerError:
        return
    assert b64url_encode(data) == text.rstrip("=")


@pytest.mark.parametrize("text", ["a", "ab+c", "ab/c", "a b", "AB==x", "AR", "\u00e9"])
def test_b64url_broken(text: str) -> None:
    with raises_rule(ErrorCode.INVALID_ENCODING):
        b64url_decode(text)


# --- authenticatorData ----------------------------------------------------------------------------


def test_authenticator_data_create_parse() -> None:
    passkey = HeadlessPasskey.generate(rp_id="example.com", origin="https://example.com")
    attested = AttestedCredentialData(bytes(range(16)), passkey.credential_id, passkey.public_key.to_cose())
    data = AuthenticatorData.create(
        rp_id="example.com",
        flags=AuthenticatorFlags.UP | AuthenticatorFlags.UV,
        counter=7,
        attested_credential=attested,
        extensions={"credProps": {"rk": True}},
    )
    parsed = AuthenticatorData(bytes(data))
    assert parsed.rp_id_hash == hashlib.sha256(b"example.com").digest()
    assert (
        parsed.flags
        == AuthenticatorFlags.UP | AuthenticatorFlags.UV | AuthenticatorFlags.AT | AuthenticatorFlags.ED
    )
    assert parsed.counter == 7
    assert parsed.attested_credential == attested
    assert parsed.attested_credential is not None
    assert parsed.attested_credential.public_key == passkey.public_key
    assert parsed.extensions == {"credProps": {"rk": True}}
    assert parsed.user_present
    assert parsed.user_verified
    assert not parsed.backup_eligible


@given(flags_st, st.integers(min_value=0, max_value=2**32 - 1), st.text(min_size=1, max_size=30))
def test_authenticator_data_round_trip(flags: AuthenticatorFlags, counter: int, rp_id: str) -> None:
    data = AuthenticatorData.create(rp_id=rp_id, flags=flags, counter=counter)
    parsed = AuthenticatorData(bytes(data))
    assert bytes(parsed) == bytes(data)
    assert parsed.flags == flags
    assert parsed.counter == counter
    assert parsed.matches_rp_id(rp_id)
    assert parsed.attested_credential is None


@given(st.binary(max_size=200))
def test_authenticator_data_arbitrary_bytes(data: bytes) -> None:
    try:
        parsed = AuthenticatorData(data)
    except SsoSignerError:
        return
    assert bytes(parsed) == data


def test_authenticator_data_malformed() -> None:
    with raises_rule(ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT):
        AuthenticatorData(bytes(36))
    with raises_rule(ErrorCode.INVALID_AUTHENTICATOR_DATA, ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT):
        AuthenticatorData(bytes(38))  # a trailing byte with AT and ED clear
    at_set = bytes(32) + bytes([AuthenticatorFlags.AT]) + bytes(4)
    with raises_rule(ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT):
        AuthenticatorData(at_set + bytes(10))
    with raises_rule(ErrorCode.FIELD_TOO_LARGE):
        AuthenticatorData(at_set + bytes(16) + (1024).to_bytes(2, "big") + bytes(1024))
    with raises_rule(ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT):
        AuthenticatorData(at_set + bytes(16) + (20).to_bytes(2, "big") + bytes(5))
    cose = cbor2.dumps({1: 2})
    with raises_rule(ErrorCode.TRUNCATED_CBOR):
        AuthenticatorData(at_set + bytes(16) + (16).to_bytes(2, "big") + bytes(16) + cose[:-1])
    ed_set = bytes(32) + bytes([AuthenticatorFlags.ED]) + bytes(4)
    with raises_rule(ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT):
        AuthenticatorData(ed_set)
    with raises_rule(ErrorCode.INVALID_AUTHENTICATOR_DATA, ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT):
        AuthenticatorData.create(rp_id="x", flags=AuthenticatorFlags.UP, counter=2**32)
    # Extensions naming one identifier twice (py_webauthn refuses them too: a cross-check must agree).
    repeated = b"\xa2" + (cbor2.dumps("credProps") + cbor2.dumps(True)) * 2
    with raises_rule(ErrorCode.INVALID_CBOR, match="repeats a map key"):
        AuthenticatorData(ed_set + repeated)


# --- clientDataJSON -------------------------------------------------------------------------------


def test_client_data_create_is_browser_compact() -> None:
    data = CollectedClientData.create(
        type="webauthn.get", challenge=b"\x01" * 32, origin="http://localhost:5173"
    )
    assert bytes(data) == (
        b'{"type":"webauthn.get","challenge":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",'
        b'"origin":"http://localhost:5173","crossOrigin":false}'
    )
    safari = CollectedClientData.create(
        type="webauthn.get", challenge=b"x", origin="https://a.b", cross_origin=None
    )
    assert b"crossOrigin" not in bytes(safari)
    assert safari.cross_origin is None
    chromium = CollectedClientData.create(
        type="webauthn.get",
        challenge=b"x",
        origin="https://a.b",
        extra={"other_keys_can_be_added_here": "do not"},
    )
    assert bytes(chromium).endswith(b',"crossOrigin":false,"other_keys_can_be_added_here":"do not"}')
    with raises_rule(
        ErrorCode.INVALID_CLIENT_DATA, ErrorCode.CLIENT_DATA_NOT_JSON, ErrorCode.DUPLICATE_CLIENT_DATA_KEY
    ):
        CollectedClientData.create(type="webauthn.get", challenge=b"x", origin="o", extra={"origin": "evil"})


def test_client_data_keeps_exact_bytes() -> None:
    # Spacing and key order a browser never produces: still parsed, never rewritten.
    raw = b'{ "origin" : "https://a.b", "challenge":"AQ", "type":"webauthn.get", "topOrigin":"https://c.d"}'
    parsed = CollectedClientData(raw)
    assert bytes(parsed) == raw
    assert parsed.challenge == b"\x01"
    assert parsed.top_origin == "https://c.d"
    assert parsed.cross_origin is None


@given(
    st.sampled_from(["webauthn.get", "webauthn.create"]),
    st.binary(max_size=64),
    st.text(max_size=40),
    st.one_of(st.none(), st.booleans()),
    st.dictionaries(
        # topOrigin is typed (a string) like the standard members, so an integer there is refused.
        st.text(max_size=10).filter(
            lambda k: k not in {"type", "challenge", "origin", "crossOrigin", "topOrigin"}
        ),
        st.one_of(st.text(max_size=10), st.integers()),
        max_size=3,
    ),
)
def test_client_data_round_trip(
    kind: str, challenge: bytes, origin: str, cross: bool | None, extra: dict[str, Any]
) -> None:
    created = CollectedClientData.create(
        type=kind, challenge=challenge, origin=origin, cross_origin=cross, extra=extra
    )
    parsed = CollectedClientData(bytes(created))
    assert (parsed.type, parsed.challenge, parsed.origin, parsed.cross_origin) == (
        kind,
        challenge,
        origin,
        cross,
    )
    assert list(parsed.data)[:3] == ["type", "challenge", "origin"]


@given(st.binary(max_size=200))
def test_client_data_arbitrary_bytes(data: bytes) -> None:
    try:
        CollectedClientData(data)
    except SsoSignerError:
        return


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\xff", ErrorCode.CLIENT_DATA_NOT_JSON),
        (b"[1]", ErrorCode.CLIENT_DATA_NOT_JSON),
        (b"{", ErrorCode.CLIENT_DATA_NOT_JSON),
        (b'{"type":"webauthn.get","challenge":"AQ","origin":NaN}', ErrorCode.CLIENT_DATA_NOT_JSON),
        (b'{"type":"webauthn.get","challenge":"AQ"}', ErrorCode.INVALID_CLIENT_DATA),
        (b'{"type":1,"challenge":"AQ","origin":"o"}', ErrorCode.INVALID_CLIENT_DATA),
        (
            b'{"type":"webauthn.get","challenge":"AQ","origin":"o","crossOrigin":"false"}',
            ErrorCode.INVALID_CLIENT_DATA,
        ),
        (b'{"type":"webauthn.get","challenge":"A+Q","origin":"o"}', ErrorCode.INVALID_ENCODING),
        (
            b'{"type":"webauthn.get","challenge":"AQ","origin":"a","origin":"b"}',
            ErrorCode.DUPLICATE_CLIENT_DATA_KEY,
        ),
    ],
)
def test_client_data_malformed(raw: bytes, error: ErrorCode) -> None:
    with raises_rule(error):
        CollectedClientData(raw)


def test_client_data_too_large() -> None:
    big = CollectedClientData.create(
        type="webauthn.get", challenge=b"x", origin="o", extra={"pad": "x" * 8000}
    )
    assert len(big) <= MAX_CLIENT_DATA_JSON
    with raises_rule(ErrorCode.FIELD_TOO_LARGE):
        CollectedClientData.create(type="webauthn.get", challenge=b"x", origin="o", extra={"pad": "x" * 9000})


# --- assertion JSON -------------------------------------------------------------------------------


def _assertion_json() -> dict[str, Any]:
    passkey = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost")
    return passkey.sign(b"\x07" * 32).to_json()


def test_assertion_json_round_trip() -> None:
    data = _assertion_json()
    parsed = Assertion.from_json(json.dumps(data))
    assert parsed.to_json() == data
    assert Assertion.from_json(parsed.to_json()) == parsed


def test_assertion_json_malformed() -> None:
    data = _assertion_json()
    with raises_rule(ErrorCode.INVALID_CREDENTIAL_TYPE):
        Assertion.from_json({**data, "type": "password"})
    with raises_rule(ErrorCode.CREDENTIAL_ID_MISMATCH):
        Assertion.from_json({**data, "rawId": b64url_encode(b"another credential id")})
    with raises_rule(ErrorCode.INVALID_ENCODING):
        Assertion.from_json({**data, "response": {**data["response"], "signature": "MEU+"}})
    with raises_rule(
        ErrorCode.INVALID_CREDENTIAL_JSON, ErrorCode.INVALID_CREDENTIAL_TYPE, ErrorCode.CREDENTIAL_ID_MISMATCH
    ):
        Assertion.from_json({**data, "response": "nope"})
    with raises_rule(
        ErrorCode.INVALID_CREDENTIAL_JSON, ErrorCode.INVALID_CREDENTIAL_TYPE, ErrorCode.CREDENTIAL_ID_MISMATCH
    ):
        Assertion.from_json("{not json")
    with raises_rule(
        ErrorCode.INVALID_CREDENTIAL_JSON, ErrorCode.INVALID_CREDENTIAL_TYPE, ErrorCode.CREDENTIAL_ID_MISMATCH
    ):
        Assertion.from_json({k: v for k, v in data.items() if k not in {"id"}})
    too_long = b64url_encode(bytes(1024))
    with raises_rule(ErrorCode.FIELD_TOO_LARGE):
        Assertion.from_json({**data, "id": too_long, "rawId": too_long})
    with raises_rule(ErrorCode.FIELD_TOO_LARGE):
        Assertion.from_json(
            {**data, "response": {**data["response"], "userHandle": b64url_encode(bytes(65))}}
        )
