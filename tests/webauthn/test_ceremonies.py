"""Relying-party ceremonies: the happy paths, and one failing input per error class with nothing stored."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer.exceptions import (
    ErrorCode,
)
from sso_signer.webauthn import AuthenticatorData, HeadlessPasskey, RelyingParty
from sso_signer.webauthn._authenticator_data import AttestedCredentialData
from sso_signer.webauthn._client_data import CollectedClientData
from tests.errors import raises_rule
from tests.webauthn.conftest import relying_party
from tests.webauthn.rows import snapshot

RP_ID = "localhost"
ORIGIN = "http://localhost:5173"
ANDROID = "android:apk-key-hash:Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE"


class Clock:
    """A settable clock for expiry tests."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rp(db: str, shell: str, clock: Clock) -> Iterator[RelyingParty]:
    with relying_party(
        db, shell, rp_id=RP_ID, rp_name="Test", origins=[ORIGIN, ANDROID], clock=clock
    ) as party:
        yield party


def user_of(options: dict[str, Any]) -> bytes:
    """The user the registration options were issued for (what a session remembers)."""
    return b64url_decode(options["user"]["id"])


def new_passkey(options: dict[str, Any], **kwargs: Any) -> HeadlessPasskey:
    kwargs.setdefault("rp_id", RP_ID)
    kwargs.setdefault("origin", ORIGIN)
    return HeadlessPasskey.generate(user_handle=b64url_decode(options["user"]["id"]), **kwargs)


def rebuild(
    response: dict[str, Any],
    *,
    auth_data: Callable[[AuthenticatorData], bytes] | None = None,
    att_obj: Callable[[dict[str, Any]], bytes] | None = None,
) -> dict[str, Any]:
    """Re-pack a registration response after changing its authenticatorData or attestation object."""
    att = cbor2.loads(b64url_decode(response["response"]["attestationObject"]))
    if auth_data is not None:
        att["authData"] = auth_data(AuthenticatorData(att["authData"]))
    raw = att_obj(att) if att_obj is not None else cbor2.dumps(att)
    return {**response, "response": {**response["response"], "attestationObject": b64url_encode(raw)}}


def with_key(cose: bytes) -> Callable[[AuthenticatorData], bytes]:
    def change(data: AuthenticatorData) -> bytes:
        assert data.attested_credential is not None
        attested = AttestedCredentialData(
            data.attested_credential.aaguid, data.attested_credential.credential_id, cose
        )
        return bytes(AuthenticatorData.create(rp_id=RP_ID, flags=data.flags, attested_credential=attested))

    return change


# --- happy paths ----------------------------------------------------------------------------------


def test_registration_options_follow_the_validator(rp: RelyingParty, db: str) -> None:
    options = rp.registration_options(user_name="alice")
    assert options["pubKeyCredParams"] == [{"type": "public-key", "alg": -7}]
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none"
    assert rp.registration_options(user_name="bob", attestation="direct")["attestation"] == "direct"
    assert len(b64url_decode(options["challenge"])) >= 32
    _, challenges = snapshot(db)
    assert len(challenges) == 2
    assert {row[1] for row in challenges} == {"registration"}
    assert options["challenge"] != rp.registration_options(user_name="alice")["challenge"]


@pytest.mark.parametrize("fmt", ["none", "packed"])
def test_register_then_sign(rp: RelyingParty, db: str, fmt: str) -> None:
    options = rp.registration_options(user_name="alice")
    passkey = new_passkey(options, counter_mode="increment")
    credential = rp.verify_registration(
        passkey.register_from_options(options, attestation=fmt), user_handle=user_of(options)
    )
    assert credential.credential_id == passkey.credential_id
    assert credential.public_key == passkey.public_key
    assert credential.origin == ORIGIN
    assert credential.user_name == "alice"
    assert credential.user_handle == passkey.user_handle
    assert credential.backup_eligible
    assert credential.backup_state
    assert credential.transports == ("hybrid", "internal")
    assert rp.store.get_credential(passkey.credential_id) == credential

    tx_hash = hashlib.sha256(b"transaction").digest()
    get_options = rp.authentication_options(tx_hash, user_handle=passkey.user_handle)
    assert get_options["challenge"] == b64url_encode(tx_hash)
    assert get_options["userVerification"] == "required"
    assert [c["id"] for c in get_options["allowCredentials"]] == [b64url_encode(passkey.credential_id)]
    result = rp.verify_authentication(passkey.sign(tx_hash).to_json(), expected_challenge=tx_hash)
    assert result.challenge == tx_hash
    assert result.credential.sign_count == 1
    assert rp.store.get_credential(passkey.credential_id).sign_count == 1


def test_android_origin_is_kept_exactly(rp: RelyingParty) -> None:
    options = rp.registration_options(user_name="droid")
    passkey = new_passkey(options, origin=ANDROID)
    credential = rp.verify_registration(passkey.register_from_options(options), user_handle=user_of(options))
    assert credential.origin == ANDROID
    tx_hash = bytes(range(32))
    rp.authentication_options(tx_hash, credential_ids=[credential.credential_id])
    assert rp.verify_authentication(passkey.sign(tx_hash)).credential.origin == ANDROID


def test_several_passkeys_per_user_and_exclusion(rp: RelyingParty) -> None:
    first = rp.registration_options(user_name="carol")
    handle = b64url_decode(first["user"]["id"])
    one = new_passkey(first)
    rp.verify_registration(one.register_from_options(first), user_handle=handle)
    second = rp.registration_options(user_name="carol", user_handle=handle)
    assert [c["id"] for c in second["excludeCredentials"]] == [b64url_encode(one.credential_id)]
    two = new_passkey(second)
    rp.verify_registration(two.register_from_options(second), user_handle=handle)
    stored = rp.store.credentials_for_user(handle)
    assert [c.credential_id for c in stored] == [one.credential_id, two.credential_id]
    tx_hash = b"\x42" * 32
    options = rp.authentication_options(tx_hash, user_handle=handle)
    assert len(options["allowCredentials"]) == 2
    assert rp.verify_authentication(two.sign(tx_hash)).credential.credential_id == two.credential_id


# --- one failing input per class, nothing stored --------------------------------------------------


def registered(rp: RelyingParty, **kwargs: Any) -> HeadlessPasskey:
    options = rp.registration_options(user_name="dave")
    passkey = new_passkey(options, **kwargs)
    rp.verify_registration(passkey.register_from_options(options), user_handle=user_of(options))
    return passkey


REG_CASES: list[tuple[str, ErrorCode, Callable[[HeadlessPasskey, dict[str, Any]], dict[str, Any]]]] = [
    (
        "broken base64url",
        ErrorCode.INVALID_ENCODING,
        lambda p, o: {
            **(r := p.register_from_options(o)),
            "response": {**r["response"], "clientDataJSON": "e30+"},
        },
    ),
    (
        "truncated CBOR",
        ErrorCode.TRUNCATED_CBOR,
        lambda p, o: rebuild(p.register_from_options(o), att_obj=lambda a: cbor2.dumps(a)[:-3]),
    ),
    (
        "trailing CBOR",
        ErrorCode.TRAILING_CBOR,
        lambda p, o: rebuild(p.register_from_options(o), att_obj=lambda a: cbor2.dumps(a) + b"\x00"),
    ),
    (
        "attestation object not a map",
        ErrorCode.INVALID_ATTESTATION_OBJECT,
        lambda p, o: rebuild(p.register_from_options(o), att_obj=lambda a: cbor2.dumps([a["fmt"]])),
    ),
    (
        "wrong credential type",
        ErrorCode.INVALID_CREDENTIAL_TYPE,
        lambda p, o: {**p.register_from_options(o), "type": "otp"},
    ),
    (
        "rawId differs from authData",
        ErrorCode.CREDENTIAL_ID_MISMATCH,
        lambda p, o: {**p.register_from_options(o), "id": "AAAA", "rawId": "AAAA"},
    ),
    (
        "wrong origin",
        ErrorCode.ORIGIN_MISMATCH,
        lambda p, o: p.register_from_options(o, origin="https://evil.example"),
    ),
    ("wrong rpId", ErrorCode.RP_ID_MISMATCH, lambda p, o: p.register_from_options(o, rp_id="evil.example")),
    (
        "wrong ceremony type",
        ErrorCode.CLIENT_DATA_TYPE,
        lambda p, o: {
            **(r := p.register_from_options(o)),
            "response": {
                **r["response"],
                "clientDataJSON": b64url_encode(
                    bytes(
                        CollectedClientData.create(
                            type="webauthn.get", challenge=b64url_decode(o["challenge"]), origin=ORIGIN
                        )
                    )
                ),
            },
        },
    ),
    ("cross origin", ErrorCode.CROSS_ORIGIN, lambda p, o: p.register_from_options(o, cross_origin=True)),
    (
        "UP missing",
        ErrorCode.USER_PRESENCE_MISSING,
        lambda p, o: p.register_from_options(o, user_present=False),
    ),
    (
        "UV missing",
        ErrorCode.USER_VERIFICATION_MISSING,
        lambda p, o: p.register_from_options(o, user_verified=False),
    ),
    (
        "wrong challenge",
        ErrorCode.CHALLENGE_UNKNOWN,
        lambda p, o: p.register(b"\x00" * 32),
    ),
    (
        "RS256 key",
        ErrorCode.UNSUPPORTED_ALGORITHM,
        lambda p, o: rebuild(
            p.register_from_options(o),
            auth_data=with_key(
                cbor2.dumps(
                    {
                        1: 3,
                        3: -257,
                        -1: rsa.generate_private_key(public_exponent=65537, key_size=2048)
                        .public_key()
                        .public_numbers()
                        .n.to_bytes(256, "big"),
                        -2: b"\x01\x00\x01",
                    }
                )
            ),
        ),
    ),
    (
        "EdDSA key",
        ErrorCode.UNSUPPORTED_ALGORITHM,
        lambda p, o: rebuild(
            p.register_from_options(o), auth_data=with_key(cbor2.dumps({1: 1, 3: -8, -1: 6, -2: bytes(32)}))
        ),
    ),
    (
        "key off the curve",
        ErrorCode.POINT_NOT_ON_CURVE,
        lambda p, o: rebuild(
            p.register_from_options(o),
            auth_data=with_key(
                cbor2.dumps({1: 2, 3: -7, -1: 1, -2: bytes(31) + b"\x01", -3: bytes(31) + b"\x01"})
            ),
        ),
    ),
    (
        "credential id too long",
        ErrorCode.FIELD_TOO_LARGE,
        lambda p, o: {
            **p.register_from_options(o),
            "id": b64url_encode(bytes(1024)),
            "rawId": b64url_encode(bytes(1024)),
        },
    ),
    (
        "clientDataJSON too large",
        ErrorCode.FIELD_TOO_LARGE,
        lambda p, o: p.register_from_options(o, extra_client_data={"pad": "x" * 9000}),
    ),
    (
        "packed attestation signed by another key",
        ErrorCode.ATTESTATION_INVALID,
        lambda p, o: rebuild(
            p.register_from_options(o, attestation="packed"),
            att_obj=lambda a: cbor2.dumps(
                {
                    **a,
                    "attStmt": {
                        "alg": -7,
                        "sig": HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN).sign(b"x").signature,
                    },
                }
            ),
        ),
    ),
]


@pytest.mark.parametrize(("case", "error", "make"), REG_CASES, ids=[c[0] for c in REG_CASES])
def test_registration_rejects(
    rp: RelyingParty,
    db: str,
    case: str,
    error: ErrorCode,
    make: Callable[[HeadlessPasskey, dict[str, Any]], dict[str, Any]],
) -> None:
    options = rp.registration_options(user_name="mallory")
    passkey = new_passkey(options)
    before = snapshot(db)
    with raises_rule(error):
        rp.verify_registration(make(passkey, options), user_handle=user_of(options))
    assert snapshot(db) == before, f"{case}: the store changed"
    # The challenge was not burnt by the bad attempt: the honest response still registers.
    assert (
        rp.verify_registration(
            passkey.register_from_options(options), user_handle=user_of(options)
        ).credential_id
        == passkey.credential_id
    )


def test_registration_expired_challenge(rp: RelyingParty, db: str, clock: Clock) -> None:
    options = rp.registration_options(user_name="erin")
    passkey = new_passkey(options)
    clock.now += 601
    before = snapshot(db)
    with raises_rule(ErrorCode.CHALLENGE_EXPIRED):
        rp.verify_registration(passkey.register_from_options(options), user_handle=user_of(options))
    assert snapshot(db) == before


def test_registration_reused_challenge(rp: RelyingParty, db: str) -> None:
    options = rp.registration_options(user_name="frank")
    rp.verify_registration(new_passkey(options).register_from_options(options), user_handle=user_of(options))
    before = snapshot(db)
    with raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
        rp.verify_registration(
            new_passkey(options).register_from_options(options), user_handle=user_of(options)
        )
    assert snapshot(db) == before


def test_registration_duplicate_credential_id(rp: RelyingParty, db: str) -> None:
    existing = registered(rp)
    options = rp.registration_options(user_name="grace")
    clone = new_passkey(options, credential_id=existing.credential_id)
    before = snapshot(db)
    with raises_rule(ErrorCode.DUPLICATE_CREDENTIAL):
        rp.verify_registration(clone.register_from_options(options), user_handle=user_of(options))
    assert snapshot(db) == before  # neither the credential nor the challenge consumption was written


def test_authentication_challenge_must_be_a_32_byte_hash(rp: RelyingParty, db: str) -> None:
    before = snapshot(db)
    for bad in (b"", b"\x01" * 31, b"\x01" * 33):
        with raises_rule(ErrorCode.CHALLENGE_LENGTH):
            rp.authentication_options(bad)
    assert snapshot(db) == before
    rp.authentication_options(b"\x01" * 32, discoverable=True)
    with raises_rule(ErrorCode.CHALLENGE_ALREADY_ISSUED):
        rp.authentication_options(b"\x01" * 32, discoverable=True)
    with raises_rule(ErrorCode.CREDENTIAL_NOT_FOUND):
        rp.authentication_options(b"\x02" * 32, credential_ids=[b"unknown credential id"])


AUTH_CASES: list[tuple[str, ErrorCode, dict[str, Any]]] = [
    ("wrong origin", ErrorCode.ORIGIN_MISMATCH, {"origin": "https://evil.example"}),
    ("allowed origin but not the registered one", ErrorCode.ORIGIN_MISMATCH, {"origin": ANDROID}),
    ("wrong rpId", ErrorCode.RP_ID_MISMATCH, {"rp_id": "evil.example"}),
    ("UP missing", ErrorCode.USER_PRESENCE_MISSING, {"user_present": False}),
    ("UV missing", ErrorCode.USER_VERIFICATION_MISSING, {"user_verified": False}),
    ("cross origin", ErrorCode.CROSS_ORIGIN, {"cross_origin": True}),
]


@pytest.mark.parametrize(("case", "error", "kwargs"), AUTH_CASES, ids=[c[0] for c in AUTH_CASES])
def test_authentication_rejects(
    rp: RelyingParty, db: str, case: str, error: ErrorCode, kwargs: dict[str, Any]
) -> None:
    passkey = registered(rp)
    tx_hash = hashlib.sha256(case.encode()).digest()
    rp.authentication_options(tx_hash, user_handle=passkey.user_handle)
    before = snapshot(db)
    with raises_rule(error):
        rp.verify_authentication(passkey.sign(tx_hash, **kwargs))
    assert snapshot(db) == before, f"{case}: the store changed"
    rp.verify_authentication(passkey.sign(tx_hash))  # the challenge is still usable by the honest answer


def test_authentication_challenge_states(rp: RelyingParty, db: str, clock: Clock) -> None:
    passkey = registered(rp)
    unknown = b"\x10" * 32
    with raises_rule(ErrorCode.CHALLENGE_UNKNOWN):
        rp.verify_authentication(passkey.sign(unknown))
    issued = b"\x11" * 32
    rp.authentication_options(issued, discoverable=True)
    with raises_rule(ErrorCode.CHALLENGE_MISMATCH):
        rp.verify_authentication(passkey.sign(issued), expected_challenge=b"\x12" * 32)
    rp.verify_authentication(passkey.sign(issued), expected_challenge=issued)
    before = snapshot(db)
    with raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
        rp.verify_authentication(passkey.sign(issued))
    reg = rp.registration_options(user_name="henry")
    with raises_rule(ErrorCode.CHALLENGE_PURPOSE_MISMATCH):
        rp.verify_authentication(passkey.sign(b64url_decode(reg["challenge"])))
    late = b"\x13" * 32
    rp.authentication_options(late, discoverable=True)
    clock.now += 600
    before = snapshot(db)
    with raises_rule(ErrorCode.CHALLENGE_EXPIRED):
        rp.verify_authentication(passkey.sign(late))
    assert snapshot(db) == before


def test_authentication_signature_counter_and_allow_list(rp: RelyingParty, db: str) -> None:
    passkey = registered(rp, counter_mode="increment")
    impostor = HeadlessPasskey.generate(
        rp_id=RP_ID, origin=ORIGIN, credential_id=passkey.credential_id, user_handle=passkey.user_handle
    )
    tx_hash = b"\x20" * 32
    rp.authentication_options(tx_hash, user_handle=passkey.user_handle)
    before = snapshot(db)
    with raises_rule(ErrorCode.SIGNATURE_INVALID):
        rp.verify_authentication(impostor.sign(tx_hash))
    assert snapshot(db) == before
    rp.verify_authentication(passkey.sign(tx_hash))  # counter 1
    stale = passkey.sign(b"\x21" * 32)  # counter 2, kept back
    fresh = passkey.sign(b"\x22" * 32)  # counter 3
    rp.authentication_options(b"\x22" * 32, user_handle=passkey.user_handle)
    rp.verify_authentication(fresh)
    rp.authentication_options(b"\x21" * 32, user_handle=passkey.user_handle)
    before = snapshot(db)
    with raises_rule(ErrorCode.COUNTER_REGRESSION):
        rp.verify_authentication(stale)
    assert snapshot(db) == before

    other = registered(rp)
    only_other = b"\x23" * 32
    rp.authentication_options(only_other, credential_ids=[other.credential_id])
    with raises_rule(ErrorCode.CREDENTIAL_NOT_ALLOWED):
        rp.verify_authentication(passkey.sign(only_other))
    stranger = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    with raises_rule(ErrorCode.CREDENTIAL_NOT_FOUND):
        rp.verify_authentication(stranger.sign(only_other))
    assert rp.verify_authentication(other.sign(only_other)).credential.credential_id == other.credential_id


def test_passkey_adopts_the_user_of_the_options_and_honours_exclusion(rp: RelyingParty) -> None:
    options = rp.registration_options(user_name="ivy")
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)  # its own random user handle
    credential = rp.verify_registration(passkey.register_from_options(options), user_handle=user_of(options))
    assert passkey.user_handle == credential.user_handle == b64url_decode(options["user"]["id"])
    assert passkey.credential.user_name == "ivy"
    tx_hash = b"\x30" * 32
    rp.authentication_options(tx_hash, user_handle=credential.user_handle)
    assertion = passkey.sign(tx_hash)
    assert assertion.user_handle == credential.user_handle
    rp.verify_authentication(assertion)
    again = rp.registration_options(user_name="ivy", user_handle=credential.user_handle)
    with raises_rule(ErrorCode.DUPLICATE_CREDENTIAL, match="excludeCredentials"):
        passkey.register_from_options(again)


def test_authentication_user_handle_mismatch(rp: RelyingParty, db: str) -> None:
    passkey = registered(rp)
    other_user = HeadlessPasskey(
        passkey._key,  # test-only: the same key and credential id answering for another user
        credential_id=passkey.credential_id,
        rp_id=RP_ID,
        origin=ORIGIN,
        user_handle=b"someone else",
    )
    tx_hash = b"\x31" * 32
    rp.authentication_options(tx_hash, discoverable=True)
    before = snapshot(db)
    with raises_rule(ErrorCode.USER_HANDLE_MISMATCH):
        rp.verify_authentication(other_user.sign(tx_hash))
    assert snapshot(db) == before


def test_other_allowed_origin_can_be_accepted_when_asked(db: str, shell: str, clock: Clock) -> None:
    with relying_party(
        db,
        shell,
        rp_id=RP_ID,
        rp_name="Test",
        origins=[ORIGIN, ANDROID],
        clock=clock,
        require_registered_origin=False,
    ) as lenient:
        passkey = registered(lenient)
        tx_hash = b"\x32" * 32
        lenient.authentication_options(tx_hash, user_handle=passkey.user_handle)
        result = lenient.verify_authentication(passkey.sign(tx_hash, origin=ANDROID))
        assert result.assertion.client_data.origin == ANDROID
        assert result.credential.origin == ORIGIN


def _repeating(key: object, value: object) -> Callable[[dict[str, Any]], bytes]:
    """An attestation object whose map ends with a second copy of ``key`` (cbor2 would keep the last)."""

    def pack(att: dict[str, Any]) -> bytes:
        return bytes([0xA0 + len(att) + 1]) + cbor2.dumps(att)[1:] + cbor2.dumps(key) + cbor2.dumps(value)

    return pack


def test_registration_refuses_cbor_maps_with_repeated_keys(rp: RelyingParty, db: str) -> None:
    """A map naming a key twice means what its parser decides (the first copy or the last): neither the
    attestation format nor a coordinate of the credential key may depend on that. Refused as bad CBOR,
    as py_webauthn refuses it (not as an attestation that failed to verify)."""
    options = rp.registration_options(user_name="mallory")
    passkey = new_passkey(options)
    response = passkey.register_from_options(options, attestation="packed")
    key = passkey.public_key
    # x twice: a decoy first, the real coordinate last (what cbor2 keeps).
    pairs = [(1, 2), (3, -7), (-1, 1), (-2, b"\x07" * 32), (-2, key.x_bytes), (-3, key.y_bytes)]
    doubled_x = bytes([0xA6]) + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in pairs)
    before = snapshot(db)
    for forged in (
        rebuild(response, att_obj=_repeating("fmt", "none")),
        rebuild(response, auth_data=lambda data: bytes(data).replace(key.to_cose(), doubled_x)),
    ):
        with raises_rule(ErrorCode.INVALID_CBOR, match="repeats a map key"):
            rp.verify_registration(forged, user_handle=user_of(options))
    assert snapshot(db) == before


def test_an_unknown_attestation_format_is_refused_by_name_without_echoing_it(
    rp: RelyingParty, db: str
) -> None:
    """WebAuthn 7.1 step 21: fmt must be a known format identifier. The attacker's text is not copied into
    the error whole (a newline would forge a log line, 5000 characters would bloat every log)."""
    options = rp.registration_options(user_name="mallory")
    response = new_passkey(options).register_from_options(options)
    forged_fmt = "none\nCRITICAL forged log line " + "x" * 5000

    def with_fmt(att: dict[str, Any]) -> bytes:
        return cbor2.dumps({**att, "fmt": forged_fmt})

    before = snapshot(db)
    with raises_rule(ErrorCode.INVALID_ATTESTATION_OBJECT) as info:
        rp.verify_registration(rebuild(response, att_obj=with_fmt), user_handle=user_of(options))
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 300
    assert snapshot(db) == before
