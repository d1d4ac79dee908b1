"""The relying party fails closed: each ceremony is bound to the user it was issued for, an empty allow-list
is issued only for a usernameless login, backup flags are checked, and racing assertions of one credential
never move its counter backwards (issue #14, defects 2, 3, 4 and 7)."""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
from collections.abc import Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from sso_signer._codec import b64url_decode
from sso_signer.exceptions import ErrorCode, SsoSignerError
from sso_signer.webauthn import (
    AsyncRelyingParty,
    HeadlessPasskey,
    PendingChallenge,
    RelyingParty,
    SQLiteStore,
    open_store,
)
from tests.errors import raises_rule
from tests.webauthn.conftest import relying_party
from tests.webauthn.rows import snapshot

RP_ID = "localhost"
ORIGIN = "http://localhost:5173"
NOW = 1_700_000_000.0


@pytest.fixture
def rp(db: str, shell: str) -> Iterator[RelyingParty]:
    with relying_party(db, shell, rp_id=RP_ID, rp_name="Test", origins=[ORIGIN], clock=lambda: NOW) as party:
        yield party


def register(rp: RelyingParty, name: str, **kwargs: Any) -> HeadlessPasskey:
    options = rp.registration_options(user_name=name)
    handle = b64url_decode(options["user"]["id"])
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN, user_handle=handle, **kwargs)
    rp.verify_registration(passkey.register_from_options(options), user_handle=handle)
    return passkey


def twin(passkey: HeadlessPasskey, **kwargs: Any) -> HeadlessPasskey:
    """The same key and credential id with other flags or another user (test-only)."""
    kwargs.setdefault("user_handle", passkey.user_handle)
    return HeadlessPasskey(
        passkey._key, credential_id=passkey.credential_id, rp_id=RP_ID, origin=ORIGIN, **kwargs
    )


# --- defect 4: a registration is bound to the user whose session asked for it ---------------------------


def test_registration_answered_in_another_users_session_is_refused_and_burnt(
    rp: RelyingParty, db: str
) -> None:
    carol_options = rp.registration_options(user_name="carol")
    carol = b64url_decode(carol_options["user"]["id"])
    bob = register(rp, "bob")
    # Carol's challenge answered by a key in Bob's browser, completed by Bob's session.
    intruder = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    response = intruder.register_from_options(carol_options)
    creds_before, _ = snapshot(db)
    with raises_rule(ErrorCode.USER_HANDLE_MISMATCH):
        rp.verify_registration(response, user_handle=bob.user_handle)
    assert snapshot(db)[0] == creds_before  # nothing stored under Carol (nor Bob)
    # Fail closed: the challenge was handed to the wrong session, so it is gone for everyone.
    with raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
        rp.verify_registration(response, user_handle=carol)
    assert rp.store.credentials_for_user(carol) == []


@pytest.mark.parametrize("cls", [RelyingParty, AsyncRelyingParty])
def test_registration_needs_the_sessions_user(cls: type[RelyingParty | AsyncRelyingParty]) -> None:
    import inspect

    parameter = inspect.signature(cls.verify_registration.flow).parameters["user_handle"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is inspect.Parameter.empty  # required: no caller can forget it


def test_registration_for_the_right_user_is_stored(rp: RelyingParty) -> None:
    passkey = register(rp, "dora")
    assert [c.credential_id for c in rp.store.credentials_for_user(passkey.user_handle)] == [
        passkey.credential_id
    ]


# --- defect 3: an authentication challenge is answerable only by its user's credentials -----------------


def test_challenge_for_a_user_is_not_answered_by_another_users_passkey(rp: RelyingParty, db: str) -> None:
    alice, bob = register(rp, "alice"), register(rp, "bob")
    tx_hash = b"\x01" * 32
    rp.authentication_options(tx_hash, user_handle=alice.user_handle)
    before = snapshot(db)
    with raises_rule(ErrorCode.CREDENTIAL_NOT_ALLOWED):
        rp.verify_authentication(bob.sign(tx_hash))
    assert snapshot(db) == before
    assert rp.verify_authentication(alice.sign(tx_hash)).credential.credential_id == alice.credential_id


def test_owner_is_read_from_the_store_when_the_challenge_is_answered(rp: RelyingParty, db: str) -> None:
    alice, bob = register(rp, "alice"), register(rp, "bob")
    tx_hash = b"\x02" * 32
    rp.authentication_options(tx_hash, user_handle=alice.user_handle)
    # Between issue and answer the credential id is re-registered to Bob: the stored owner decides.
    stored = rp.store.get_credential(alice.credential_id)
    rp.store.remove_credential(alice.credential_id)
    rp.store.add_credential(dataclasses.replace(stored, user_handle=bob.user_handle))
    before = snapshot(db)
    with raises_rule(ErrorCode.CREDENTIAL_NOT_ALLOWED):
        rp.verify_authentication(twin(alice, user_handle=bob.user_handle).sign(tx_hash))
    assert snapshot(db) == before


def test_user_without_passkeys_gets_no_challenge(rp: RelyingParty, db: str) -> None:
    register(rp, "alice")
    before = snapshot(db)
    with raises_rule(ErrorCode.CREDENTIAL_NOT_FOUND):
        rp.authentication_options(b"\x03" * 32, user_handle=b"nobody")
    with raises_rule(ErrorCode.CREDENTIAL_NOT_FOUND):
        rp.authentication_options(b"\x03" * 32, credential_ids=[])
    assert snapshot(db) == before


def test_empty_allow_list_only_for_a_discoverable_login(rp: RelyingParty, db: str) -> None:
    alice, bob = register(rp, "alice"), register(rp, "bob")
    before = snapshot(db)
    with raises_rule(ErrorCode.CREDENTIAL_NOT_FOUND):
        rp.authentication_options(b"\x04" * 32)  # no user, no credentials: never "anyone" by accident
    with raises_rule(
        ErrorCode.INVALID_CREDENTIAL_JSON, ErrorCode.INVALID_CREDENTIAL_TYPE, ErrorCode.CREDENTIAL_ID_MISMATCH
    ):
        rp.authentication_options(b"\x04" * 32, user_handle=alice.user_handle, discoverable=True)
    assert snapshot(db) == before
    options = rp.authentication_options(b"\x04" * 32, discoverable=True)
    assert options.get("allowCredentials", []) == []
    result = rp.verify_authentication(bob.sign(b"\x04" * 32))  # usernameless: whoever's passkey answers
    assert result.credential.user_handle == bob.user_handle
    # The caller may still bind the answer to the user of its session.
    rp.authentication_options(b"\x05" * 32, discoverable=True)
    with raises_rule(ErrorCode.USER_HANDLE_MISMATCH):
        rp.verify_authentication(bob.sign(b"\x05" * 32), user_handle=alice.user_handle)
    assert rp.verify_authentication(alice.sign(b"\x05" * 32), user_handle=alice.user_handle)


def test_a_stored_challenge_with_an_empty_allow_list_is_not_discoverable(rp: RelyingParty) -> None:
    alice = register(rp, "alice")
    # A row without user, credentials or the discoverable mark (an older row, another writer): nobody.
    rp.store.add_challenge(PendingChallenge(b"\x06" * 32, "authentication", NOW + 60))
    with raises_rule(ErrorCode.CREDENTIAL_NOT_ALLOWED):
        rp.verify_authentication(alice.sign(b"\x06" * 32))


def test_credential_ids_must_belong_to_the_user(rp: RelyingParty, db: str) -> None:
    alice, bob = register(rp, "alice"), register(rp, "bob")
    before = snapshot(db)
    with raises_rule(ErrorCode.CREDENTIAL_NOT_ALLOWED):
        rp.authentication_options(
            b"\x07" * 32, user_handle=alice.user_handle, credential_ids=[bob.credential_id]
        )
    assert snapshot(db) == before
    options = rp.authentication_options(
        b"\x07" * 32, user_handle=alice.user_handle, credential_ids=[alice.credential_id]
    )
    assert len(options["allowCredentials"]) == 1


def test_expected_user_binds_a_credential_id_challenge(rp: RelyingParty) -> None:
    alice, bob = register(rp, "alice"), register(rp, "bob")
    rp.authentication_options(b"\x08" * 32, credential_ids=[bob.credential_id])
    with raises_rule(ErrorCode.USER_HANDLE_MISMATCH):
        rp.verify_authentication(bob.sign(b"\x08" * 32), user_handle=alice.user_handle)
    assert rp.verify_authentication(bob.sign(b"\x08" * 32), user_handle=bob.user_handle)


# --- defect 7: backup flags -----------------------------------------------------------------------------


def test_backed_up_but_not_eligible_is_refused(rp: RelyingParty, db: str) -> None:
    single = register(rp, "sam", backup_eligible=False, backup_state=False)
    rp.authentication_options(b"\x09" * 32, user_handle=single.user_handle)
    before = snapshot(db)
    with raises_rule(ErrorCode.BACKUP_FLAGS_INVALID):
        rp.verify_authentication(twin(single, backup_eligible=False, backup_state=True).sign(b"\x09" * 32))
    assert snapshot(db) == before


def test_backup_eligibility_differing_from_registration_is_refused(rp: RelyingParty, db: str) -> None:
    synced = register(rp, "sue")  # BE=1, BS=1
    single = register(rp, "sid", backup_eligible=False, backup_state=False)
    for passkey, forged in (
        (synced, twin(synced, backup_eligible=False, backup_state=False)),
        (single, twin(single, backup_eligible=True, backup_state=True)),
        (single, twin(single, backup_eligible=True, backup_state=False)),
    ):
        challenge = hashlib.sha256(passkey.credential_id + bytes([forged.credential.backup_state])).digest()
        rp.authentication_options(challenge, user_handle=passkey.user_handle)
        before = snapshot(db)
        with raises_rule(ErrorCode.BACKUP_FLAGS_INVALID):
            rp.verify_authentication(forged.sign(challenge))
        assert snapshot(db) == before
        rp.verify_authentication(passkey.sign(challenge))


def test_backup_state_may_change(rp: RelyingParty) -> None:
    synced = register(rp, "sue")
    rp.authentication_options(b"\x0a" * 32, user_handle=synced.user_handle)
    result = rp.verify_authentication(twin(synced, backup_state=False).sign(b"\x0a" * 32))
    assert not result.credential.backup_state
    assert not rp.store.get_credential(synced.credential_id).backup_state


def test_registration_backed_up_but_not_eligible_is_refused(rp: RelyingParty, db: str) -> None:
    options = rp.registration_options(user_name="rex")
    handle = b64url_decode(options["user"]["id"])
    passkey = HeadlessPasskey.generate(
        rp_id=RP_ID, origin=ORIGIN, user_handle=handle, backup_eligible=False, backup_state=True
    )
    before = snapshot(db)
    with raises_rule(ErrorCode.BACKUP_FLAGS_INVALID):
        rp.verify_registration(passkey.register_from_options(options), user_handle=handle)
    assert snapshot(db) == before


# --- defect 2: two processes verifying assertions of one credential at the same time --------------------


def _race_worker(url: str, shell: str, barrier: Barrier, inbox: Queue[Any], outbox: Queue[Any]) -> None:
    with relying_party(url, shell, rp_id=RP_ID, rp_name="Race", origins=[ORIGIN], clock=lambda: NOW) as party:
        while (job := inbox.get()) is not None:
            barrier.wait(timeout=60)  # both workers verify at the same instant
            try:
                party.verify_authentication(job)
                outbox.put("won")
            except SsoSignerError as exc:
                outbox.put(str(getattr(exc, "rule", type(exc).__name__)))


def test_racing_assertions_of_one_credential_never_move_the_counter_back(db: str, shell: str) -> None:
    context = multiprocessing.get_context("fork")  # the workers open their own connections to the file
    barrier = context.Barrier(2)
    inboxes: list[Queue[Any]] = [context.Queue(), context.Queue()]
    outboxes: list[Queue[Any]] = [context.Queue(), context.Queue()]
    open_store(db).close()  # the schema exists before the workers race to create it
    workers = [
        context.Process(target=_race_worker, args=(db, shell, barrier, inboxes[i], outboxes[i]), daemon=True)
        for i in range(2)
    ]
    for worker in workers:
        worker.start()
    trials, low_lost, same_races = 60, 0, 0
    try:
        with open_store(db) as store:
            party = RelyingParty(
                rp_id=RP_ID, rp_name="Race", origins=[ORIGIN], store=store, clock=lambda: NOW
            )
            for trial in range(trials):
                passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN, counter_mode="increment")
                store.add_credential(passkey.credential)
                low_hash = hashlib.sha256(b"low %d" % trial).digest()
                high_hash = hashlib.sha256(b"high %d" % trial).digest()
                for challenge in (low_hash, high_hash):
                    party.authentication_options(challenge, credential_ids=[passkey.credential_id])
                low = passkey.sign(low_hash).to_json()  # counter 1
                high = passkey.sign(high_hash).to_json()  # counter 2
                # Every third trial the same assertion twice: its challenge is consumed exactly once.
                jobs = [high, high] if trial % 3 == 2 else [high, low] if trial % 2 else [low, high]
                for inbox, job in zip(inboxes, jobs, strict=True):
                    inbox.put(job)
                verdicts = [outbox.get(timeout=60) for outbox in outboxes]
                stored = store.get_credential(passkey.credential_id).sign_count
                if jobs[0] is jobs[1]:
                    same_races += 1
                    # The loser is refused by the store (challenge consumed) or, having read the credential
                    # after the winner committed, by the counter check before it: either way it is refused.
                    loser, winner = sorted(verdicts)
                    assert winner == "won", (trial, verdicts)
                    assert loser in ("challenge_already_used", "counter_regression"), (trial, verdicts)
                    assert stored == 2
                    continue
                names = ["low" if job is low else "high" for job in jobs]
                by_counter = dict(zip(names, verdicts, strict=True))
                assert by_counter["high"] == "won", (trial, by_counter)
                assert by_counter["low"] in ("won", "counter_regression"), (trial, by_counter)
                low_lost += by_counter["low"] == "counter_regression"
                assert stored == 2, f"trial {trial}: the counter went back to {stored} ({by_counter})"
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for worker in workers:
            worker.join(timeout=30)
    print(f"counter-1 assertion lost to counter 2 in {low_lost} of {trials - same_races} races")
    assert low_lost > 0  # the races really collided at least once


def test_authenticators_without_a_counter_keep_working(rp: RelyingParty) -> None:
    synced = register(rp, "zed")  # counter fixed at 0, like synced passkeys
    for i in range(3):
        challenge = bytes([0x40 + i]) * 32
        rp.authentication_options(challenge, user_handle=synced.user_handle)
        assert rp.verify_authentication(synced.sign(challenge)).credential.sign_count == 0


def test_store_refuses_a_counter_that_went_back(tmp_path: Path) -> None:
    passkey = HeadlessPasskey.generate(rp_id=RP_ID, origin=ORIGIN)
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        store.add_credential(passkey.credential)
        store.update_sign_count(passkey.credential_id, 5, backup_state=True)
        with raises_rule(ErrorCode.COUNTER_REGRESSION):
            store.update_sign_count(passkey.credential_id, 3, backup_state=True)
        store.add_challenge(
            PendingChallenge(
                b"\x50" * 32, "authentication", NOW + 60, credential_ids=(passkey.credential_id,)
            )
        )
        with raises_rule(ErrorCode.COUNTER_REGRESSION):
            store.complete_authentication(b"\x50" * 32, passkey.credential_id, 5, backup_state=True, now=NOW)
        assert store.get_credential(passkey.credential_id).sign_count == 5
        store.complete_authentication(b"\x50" * 32, passkey.credential_id, 6, backup_state=True, now=NOW)
        assert store.get_credential(passkey.credential_id).sign_count == 6
