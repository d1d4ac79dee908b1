"""The example's store on its own, on SQLite and on a PostgreSQL server the session started: rate-limit
buckets, pending operations claimed once, caps, and purging that keeps every table bounded. Races run on
threads, each with its own store (its own connection or pool) on the same database, as several workers
would."""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TypeVar

import pytest

from examples.dapp_backend import PendingOperation, Registration, SqlAppStore, User
from sso_signer.webauthn import open_store

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'app.db'}"
    url: str = request.getfixturevalue("sso_postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlAppStore]:
    with open_store(store_url) as opened:
        yield SqlAppStore(opened)


def _race(store_url: str, workers: int, action: Callable[[SqlAppStore], T]) -> list[T]:
    """Run ``action`` at once on ``workers`` threads, each with its own store on the same database."""
    opened = [open_store(store_url) for _ in range(workers)]
    stores = [SqlAppStore(s) for s in opened]
    barrier = threading.Barrier(workers)
    results: list[T] = []

    def run(store: SqlAppStore) -> None:
        barrier.wait()
        results.append(action(store))

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for s in opened:
        s.close()
    return results


def _op(
    op_id: str, user: str = "alice", *, expires_at: float = 100.0, links: bytes | None = None
) -> PendingOperation:
    return PendingOperation(
        op_id=op_id,
        user=user,
        challenge=op_id.encode().ljust(32, b"\0"),
        payload={},
        summary={},
        options={},
        links=links,
        status="pending",
        expires_at=expires_at,
    )


def test_a_bucket_gives_its_burst_then_refuses_until_refilled(store: SqlAppStore) -> None:
    taken = [store.take_token("k", rate=0.5, burst=3, now=10.0) for _ in range(4)]
    assert taken[:3] == [0.0, 0.0, 0.0]
    assert taken[3] == pytest.approx(2.0)  # one token per 2 s
    assert store.take_token("k", rate=0.5, burst=3, now=11.0) == pytest.approx(1.0)
    assert store.take_token("k", rate=0.5, burst=3, now=12.0) == 0.0


def test_racing_takers_get_exactly_the_burst(store: SqlAppStore, store_url: str) -> None:
    results = _race(store_url, 12, lambda s: s.take_token("fund:*", rate=1e-6, burst=5, now=50.0))
    assert sorted(results).count(0.0) == 5


def test_an_operation_is_claimed_once_even_by_racing_workers(store: SqlAppStore, store_url: str) -> None:
    assert store.add_operation(_op("op1"), cap=4, now=1.0)
    results = _race(store_url, 8, lambda s: s.claim_operation("op1", "alice", now=2.0))
    assert sorted(results) == ["claimed"] + ["used"] * 7


def test_claims_say_why_they_fail(store: SqlAppStore) -> None:
    store.add_operation(_op("op1", expires_at=5.0), cap=4, now=1.0)
    assert store.claim_operation("nope", "alice", now=2.0) == "unknown"
    assert store.claim_operation("op1", "mallory", now=2.0) == "other-user"
    assert store.claim_operation("op1", "alice", now=6.0) == "expired"
    assert store.claim_operation("op1", "alice", now=2.0) == "claimed"
    store.release_operation("op1")  # its signature was refused: it waits again
    assert store.claim_operation("op1", "alice", now=2.0) == "claimed"


def test_pending_operations_are_capped_per_user(store: SqlAppStore) -> None:
    assert all(store.add_operation(_op(f"a{i}"), cap=3, now=1.0) for i in range(3))
    assert not store.add_operation(_op("a3"), cap=3, now=1.0)
    assert store.add_operation(_op("b0", user="bob"), cap=3, now=1.0)
    # Expired ones do not count.
    assert store.add_operation(_op("a4", expires_at=200.0), cap=3, now=150.0)


def test_an_operation_being_signed_still_counts_against_the_cap(store: SqlAppStore) -> None:
    # A claimed operation whose signature is then refused goes back to pending: while it was being checked it
    # did not count, so a request in that window got a slot and the release put the user over the cap
    # (an attacker submitting bad signatures while preparing more kept the cap soft).
    assert all(store.add_operation(_op(f"a{i}"), cap=2, now=1.0) for i in range(2))
    assert store.claim_operation("a0", "alice", now=2.0) == "claimed"
    assert not store.add_operation(_op("a2"), cap=2, now=2.0)
    store.release_operation("a0")
    assert [op.status for op in store.operations("alice", limit=10)] == ["pending", "pending"]
    # Once finished it no longer counts.
    assert store.claim_operation("a0", "alice", now=2.0) == "claimed"
    store.finish_operation("a0", "included", tx_hash="0x1")
    assert store.add_operation(_op("a2"), cap=2, now=2.0)


def test_an_outcome_is_written_once_and_only_over_a_claimed_operation(store: SqlAppStore) -> None:
    # Compare-and-set: the backend retries an outcome the store refused (after the send); a retry, or a
    # write over an operation never claimed, changes nothing.
    store.add_user(User("alice", b"h" * 16, "0x" + "11" * 20), b"cred")
    assert store.add_operation(_op("a0"), cap=5, now=1.0)
    assert not store.finish_operation("a0", "included", tx_hash="0x1")  # pending: never claimed
    assert store.claim_operation("a0", "alice", now=2.0) == "claimed"
    assert store.finish_operation("a0", "sent", tx_hash="0x1")
    assert store.finish_operation("a0", "included", tx_hash="0x1")
    assert not store.finish_operation("a0", "failed", error="late")
    assert [(op.status, op.tx_hash, op.error) for op in store.operations("alice", limit=5)] == [
        ("included", "0x1", None)
    ]


def test_the_same_challenge_again_replaces_only_a_dead_operation(store: SqlAppStore) -> None:
    # An operation that failed unsent or expired unsigned gives way to the same transaction prepared again;
    # one claimed (being signed or sent) or included keeps its challenge.
    store.add_user(User("alice", b"h" * 16, "0x" + "11" * 20), b"cred")
    assert store.add_operation(_op("a0"), cap=5, now=1.0)
    assert not store.add_operation(replace(_op("a0"), op_id="b0"), cap=5, now=1.0)  # still live
    assert store.claim_operation("a0", "alice", now=2.0) == "claimed"
    assert not store.add_operation(replace(_op("a0"), op_id="b0"), cap=5, now=2.0)  # claimed
    assert store.finish_operation("a0", "failed", error="refused")
    assert store.add_operation(replace(_op("a0"), op_id="b0"), cap=5, now=3.0)
    assert [op.op_id for op in store.operations("alice", limit=5)] == ["b0"]
    assert store.add_operation(replace(_op("x0"), expires_at=10.0), cap=5, now=3.0)
    assert store.add_operation(replace(_op("x0"), op_id="y0"), cap=5, now=11.0)  # x0 expired unsigned
    assert store.claim_operation("y0", "alice", now=12.0) == "claimed"
    assert store.finish_operation("y0", "included", tx_hash="0x2")
    assert not store.add_operation(replace(_op("x0"), op_id="z0"), cap=5, now=13.0)  # included


def test_an_expired_operation_linking_a_passkey_is_not_replaced_away_from_purge(store: SqlAppStore) -> None:
    # Replacing an expired add-a-passkey operation dropped its ``links`` silently: purge then never returned
    # that passkey, and the relying party kept a credential that controls nothing.
    store.add_user(User("alice", b"h" * 16, "0x" + "11" * 20), b"cred")
    assert store.add_operation(_op("k0", expires_at=5.0, links=b"new-passkey"), cap=5, now=1.0)
    assert not store.add_operation(replace(_op("k0"), op_id="t0", expires_at=50.0), cap=5, now=10.0)
    assert [op.op_id for op in store.operations("alice", limit=5)] == ["k0"]
    assert store.purge(now=10.0, keep_finished=5) == [b"new-passkey"]
    # The same passkey asked again moves to the new row: nothing is orphaned, and the new one is live.
    assert store.add_operation(_op("p0", expires_at=5.0, links=b"again"), cap=5, now=1.0)
    assert store.add_operation(
        replace(_op("p0", links=b"again"), op_id="p1", expires_at=50.0), cap=5, now=10.0
    )
    assert [(op.op_id, op.links) for op in store.operations("alice", limit=5)] == [("p1", b"again")]
    assert store.purge(now=10.0, keep_finished=5) == []


def test_a_registration_is_taken_once_and_capped(store: SqlAppStore) -> None:
    def reg(session: str) -> Registration:
        return Registration(session, "signup", "alice", b"h" * 16, b"c" * 32, expires_at=10.0)

    assert store.put_registration(reg("s1"), cap=2, now=1.0)
    assert store.put_registration(reg("s1"), cap=2, now=1.0)  # replaces the session's earlier one
    assert store.put_registration(reg("s2"), cap=2, now=1.0)
    assert not store.put_registration(reg("s3"), cap=2, now=1.0)
    assert store.take_registration("s1", "addkey", now=2.0) is None  # another purpose
    assert store.take_registration("s1", "signup", now=2.0) == reg("s1")
    assert store.take_registration("s1", "signup", now=2.0) is None
    assert store.take_registration("s2", "signup", now=11.0) is None  # expired


def test_purge_keeps_every_table_bounded(store: SqlAppStore) -> None:
    store.add_user(User("alice", b"h" * 16, "0x" + "11" * 20), b"cred")
    store.open_session("old", "alice", expires_at=5.0)
    store.open_session("live", "alice", expires_at=500.0)
    store.put_registration(Registration("s", "signup", "bob", b"b" * 16, b"c" * 32, 5.0), cap=10, now=1.0)
    store.add_operation(_op("stale", expires_at=5.0, links=b"new-passkey"), cap=50, now=1.0)
    for i in range(5):
        store.add_operation(_op(f"done{i}", expires_at=500.0), cap=50, now=1.0)
        assert store.claim_operation(f"done{i}", "alice", now=1.0) == "claimed"
        assert store.finish_operation(f"done{i}", "included", tx_hash=f"0x{i}")
    store.take_token("idle", rate=1.0, burst=2, now=1.0)
    store.take_token("busy", rate=1e-6, burst=2, now=1.0)

    orphans = store.purge(now=10.0, keep_finished=3)

    assert orphans == [b"new-passkey"]  # the caller removes that passkey from the relying party's store
    assert store.counts() == {
        "users": 1,
        "passkeys": 1,
        "sessions": 1,
        "registrations": 0,
        "operations": 3,
        "settling": 0,
        "buckets": 1,
    }
    assert store.session_user("live", now=10.0) == "alice"
    assert [op.op_id for op in store.operations("alice", limit=10)] == ["done4", "done3", "done2"]


def test_racing_workers_never_pass_the_pending_cap(store: SqlAppStore, store_url: str) -> None:
    store.add_user(User("alice", b"h" * 16, "0x" + "11" * 20), b"cred")
    ids = iter(range(100))
    lock = threading.Lock()

    def add(s: SqlAppStore) -> bool:
        with lock:
            op_id = f"r{next(ids)}"
        return s.add_operation(_op(op_id), cap=3, now=1.0)

    results = _race(store_url, 8, add)
    assert results.count(True) == 3
    assert store.counts()["operations"] == 3


def test_racing_workers_never_pass_the_registration_cap(store: SqlAppStore, store_url: str) -> None:
    sessions = iter(range(100))
    lock = threading.Lock()

    def put(s: SqlAppStore) -> bool:
        with lock:
            session = f"s{next(sessions)}"
        registration = Registration(session, "signup", "bob", b"b" * 16, b"c" * 32, expires_at=10.0)
        return s.put_registration(registration, cap=4, now=1.0)

    results = _race(store_url, 8, put)
    assert results.count(True) == 4
    assert store.counts()["registrations"] == 4


def test_a_registration_is_taken_by_one_racing_worker(store: SqlAppStore, store_url: str) -> None:
    registration = Registration("s1", "signup", "bob", b"b" * 16, b"c" * 32, expires_at=10.0)
    assert store.put_registration(registration, cap=10, now=1.0)
    results = _race(store_url, 6, lambda s: s.take_registration("s1", "signup", now=2.0))
    assert [r for r in results if r is not None] == [registration]


def _unsettled(store: SqlAppStore, count: int, *, status: str = "signed") -> None:
    store.add_user(User("alice", b"h" * 16, "0x" + "11" * 20), b"cred")
    for i in range(count):
        assert store.add_operation(_op(f"u{i}", expires_at=10.0 + i), cap=50, now=1.0)
        assert store.claim_operation(f"u{i}", "alice", now=2.0) == "claimed"
        if status == "sent":
            assert store.finish_operation(f"u{i}", "sent", tx_hash=f"0x{i}")


def test_unsettled_operations_are_claimed_a_few_at_a_time_after_the_grace_and_again_later(
    store: SqlAppStore,
) -> None:
    _unsettled(store, 3)
    store.add_operation(_op("waiting", expires_at=500.0), cap=50, now=1.0)  # pending: never settled
    assert store.add_operation(_op("young", expires_at=480.0), cap=50, now=1.0)
    assert store.claim_operation("young", "alice", now=2.0) == "claimed"  # signed, within its grace
    # Claimed at most 2 of the signed rows past their grace, the oldest first; the rest at the next round.
    first = store.claim_unsettled(now=400.0, grace=100.0, batch=2)
    assert [(op.op_id, op.status) for op in first] == [("u0", "signed"), ("u1", "signed")]
    assert [op.op_id for op in store.claim_unsettled(now=400.0, grace=100.0, batch=2)] == ["u2"]
    assert store.claim_unsettled(now=450.0, grace=100.0, batch=2) == []  # each claimed until now + grace
    # Undecided rows are offered again once their claim lapsed; one settled meanwhile is not.
    assert store.finish_operation("u1", "included", tx_hash="0xaa")
    assert [op.op_id for op in store.claim_unsettled(now=500.0, grace=100.0, batch=5)] == ["u0", "u2"]
    assert store.counts()["settling"] == 3
    store.purge(now=500.0, keep_finished=20)
    assert store.counts()["settling"] == 2  # u1's claim went with its outcome


def test_sent_operations_are_settled_too(store: SqlAppStore) -> None:
    _unsettled(store, 1, status="sent")
    assert [(op.status, op.tx_hash) for op in store.claim_unsettled(now=400.0, grace=1.0, batch=4)] == [
        ("sent", "0x0")
    ]


def test_racing_workers_settle_each_operation_once(store: SqlAppStore, store_url: str) -> None:
    _unsettled(store, 12)
    rounds = _race(store_url, 6, lambda s: [op.op_id for op in s.claim_unsettled(now=400, grace=50, batch=3)])
    claimed = [op_id for found in rounds for op_id in found]
    assert all(len(found) <= 3 for found in rounds)
    assert len(claimed) == len(set(claimed))  # no row read by two workers in one round
    assert len(claimed) >= 3
