"""The relying party's public methods with hostile arguments: a typed error at the call, nothing stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from sso_signer._codec import b64url_decode
from sso_signer.exceptions import ErrorCode
from sso_signer.webauthn import Assertion, HeadlessPasskey, RelyingParty, SQLiteStore
from tests.errors import raises_rule
from tests.webauthn.rows import snapshot

RP_ID = "localhost"
ORIGIN = "http://localhost:5173"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "rp.sqlite"


@pytest.fixture
def store(db: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(db) as opened:
        yield opened


@pytest.mark.parametrize("ttl", [float("inf"), float("nan"), 0.0, -1.0])
def test_a_challenge_lifetime_must_be_positive_and_finite(store: SQLiteStore, ttl: float) -> None:
    # inf: challenges never expired; nan: stored as NULL, every options call failed as ChallengeAlreadyIssued.
    with raises_rule(
        ErrorCode.INVALID_CREDENTIAL_JSON,
        ErrorCode.INVALID_CREDENTIAL_TYPE,
        ErrorCode.CREDENTIAL_ID_MISMATCH,
        match="challenge_ttl",
    ):
        RelyingParty(rp_id=RP_ID, rp_name="t", origins=[ORIGIN], store=store, challenge_ttl=ttl)


@pytest.mark.parametrize(
    ("user_name", "display_name", "error"),
    [
        ("x" * 5_000_000, None, ErrorCode.FIELD_TOO_LARGE),  # was stored whole, once per options call
        ("alice", "y" * 5_000_000, ErrorCode.FIELD_TOO_LARGE),
        (
            "a\ud800b",
            None,
            ErrorCode.INVALID_CREDENTIAL_JSON,
        ),  # a lone surrogate: was a bare UnicodeEncodeError
        ("alice", "a\udfffb", ErrorCode.INVALID_CREDENTIAL_JSON),
    ],
)
def test_user_names_are_bounded_unicode_text(
    store: SQLiteStore, db: Path, user_name: str, display_name: str | None, error: ErrorCode
) -> None:
    rp = RelyingParty(rp_id=RP_ID, rp_name="t", origins=[ORIGIN], store=store)
    before = snapshot(db)
    with raises_rule(error):
        rp.registration_options(user_name=user_name, display_name=display_name)
    assert snapshot(db) == before


def test_a_user_name_at_the_limit_is_accepted(store: SQLiteStore) -> None:
    rp = RelyingParty(rp_id=RP_ID, rp_name="t", origins=[ORIGIN], store=store)
    name = "é" * 128  # 256 bytes of UTF-8
    assert rp.registration_options(user_name=name)["user"]["name"] == name


@pytest.mark.parametrize("count", [2**32, 2**70, -1])
def test_a_counter_outside_uint32_is_a_typed_error(store: SQLiteStore, db: Path, count: int) -> None:
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    store.add_credential(passkey.credential)
    before = snapshot(db)
    # authenticatorData holds 4 bytes: 2**70 was a bare OverflowError from sqlite3.
    with raises_rule(
        ErrorCode.INVALID_AUTHENTICATOR_DATA, ErrorCode.AUTHENTICATOR_DATA_TOO_SHORT, match="counter"
    ):
        store.update_sign_count(passkey.credential_id, count, backup_state=False)
    with raises_rule(
        ErrorCode.INVALID_CREDENTIAL_JSON,
        ErrorCode.INVALID_CREDENTIAL_TYPE,
        ErrorCode.CREDENTIAL_ID_MISMATCH,
        match="counter",
    ):
        dataclasses.replace(passkey.credential, sign_count=count)
    assert snapshot(db) == before


def test_a_usernameless_login_needs_the_user_handle(store: SQLiteStore, db: Path) -> None:
    # WebAuthn L3 7.2 step 6: when no user was named before the ceremony, response.userHandle must be present.
    rp = RelyingParty(rp_id=RP_ID, rp_name="t", origins=[ORIGIN], store=store)
    options = rp.registration_options(user_name="alice")
    handle = b64url_decode(options["user"]["id"])
    alice = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN, user_handle=handle)
    rp.verify_registration(alice.register_from_options(options), user_handle=handle)
    rp.authentication_options(b"\x01" * 32, discoverable=True)
    signed = alice.sign(b"\x01" * 32)
    anonymous = Assertion(
        signed.credential_id, signed.authenticator_data, signed.client_data, signed.signature, None
    )
    before = snapshot(db)
    with raises_rule(ErrorCode.USER_HANDLE_MISMATCH, match="userHandle"):
        rp.verify_authentication(anonymous)
    assert snapshot(db) == before
    assert rp.verify_authentication(signed).credential.user_handle == handle  # the challenge is still open
