"""The relying party's public methods with hostile arguments: a typed error at the call, nothing stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from sso_signer.webauthn import (
    FieldTooLarge,
    HeadlessPasskey,
    InvalidAuthenticatorData,
    InvalidCredentialJson,
    RelyingParty,
    SQLiteStore,
)
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
    with pytest.raises(InvalidCredentialJson, match="challenge_ttl"):
        RelyingParty(rp_id=RP_ID, rp_name="t", origins=[ORIGIN], store=store, challenge_ttl=ttl)


@pytest.mark.parametrize(
    ("user_name", "display_name", "error"),
    [
        ("x" * 5_000_000, None, FieldTooLarge),  # was stored whole, once per options call
        ("alice", "y" * 5_000_000, FieldTooLarge),
        ("a\ud800b", None, InvalidCredentialJson),  # a lone surrogate: was a bare UnicodeEncodeError
        ("alice", "a\udfffb", InvalidCredentialJson),
    ],
)
def test_user_names_are_bounded_unicode_text(
    store: SQLiteStore, db: Path, user_name: str, display_name: str | None, error: type[Exception]
) -> None:
    rp = RelyingParty(rp_id=RP_ID, rp_name="t", origins=[ORIGIN], store=store)
    before = snapshot(db)
    with pytest.raises(error):
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
    with pytest.raises(InvalidAuthenticatorData, match="counter"):
        store.update_sign_count(passkey.credential_id, count, backup_state=False)
    with pytest.raises(InvalidCredentialJson, match="counter"):
        dataclasses.replace(passkey.credential, sign_count=count)
    assert snapshot(db) == before
