"""The store contract suite, on SQLite and on a PostgreSQL server the session started (``backend``):
atomic single-use challenges, durability under SIGKILL, races between processes; then each backend's own
failure modes (damaged files, locks, lost connections, schema versions)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from sso_signer.exceptions import ChallengeInvalid, ErrorCode, StoreCorrupt, StoreUnavailable
from sso_signer.webauthn import (
    HeadlessPasskey,
    PasskeyCredential,
    PasskeyStore,
    PendingChallenge,
    SQLiteStore,
    open_store,
)
from sso_signer.webauthn._store_sql import SCHEMA_VERSION
from tests.errors import raises_rule
from tests.webauthn.conftest import Backend

REPO = Path(__file__).resolve().parents[2]
NOW = 1_700_000_000.0


def _credential(user: bytes = b"user-1") -> PasskeyCredential:
    return HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost", user_handle=user).credential


def _run_python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_store_satisfies_the_protocols(backend: Backend) -> None:
    with backend.open() as store:
        assert isinstance(store, PasskeyStore)
        # Each method reads the protocol's docstring, the one place it is described.
        assert type(store).complete_authentication.__doc__ == PasskeyStore.complete_authentication.__doc__
        assert store.get_challenge.__doc__ == PasskeyStore.get_challenge.__doc__


def test_credentials_crud(backend: Backend) -> None:
    with backend.open() as store:
        a, b = _credential(), _credential()
        other = _credential(b"user-2")
        for cred in (a, b, other):
            store.add_credential(cred)
        assert store.credentials_for_user(b"user-1") == [a, b]
        assert store.credentials_for_user(b"nobody") == []
        with raises_rule(ErrorCode.DUPLICATE_CREDENTIAL):
            store.add_credential(a)
        store.update_sign_count(a.credential_id, 9, backup_state=False)
        updated = store.get_credential(a.credential_id)
        assert updated.sign_count == 9
        assert not updated.backup_state
        store.remove_credential(a.credential_id)
        with raises_rule(ErrorCode.CREDENTIAL_NOT_FOUND):
            store.get_credential(a.credential_id)
        with raises_rule(ErrorCode.CREDENTIAL_NOT_FOUND):
            store.remove_credential(a.credential_id)
        with raises_rule(ErrorCode.CREDENTIAL_NOT_FOUND):
            store.update_sign_count(a.credential_id, 1, backup_state=True)
    # Persisted: a new connection sees the same rows.
    with backend.open() as again:
        assert again.credentials_for_user(b"user-1") == [b]


def test_challenge_lifecycle(backend: Backend) -> None:
    with backend.open() as store:
        pending = PendingChallenge(b"c" * 32, "authentication", NOW + 10, credential_ids=(b"id-1", b"id-2"))
        store.add_challenge(pending)
        with raises_rule(ErrorCode.CHALLENGE_ALREADY_ISSUED):
            store.add_challenge(pending)
        with raises_rule(ErrorCode.CHALLENGE_PURPOSE_MISMATCH):
            store.consume_challenge(b"c" * 32, purpose="registration", now=NOW)
        with raises_rule(ErrorCode.CHALLENGE_UNKNOWN):
            store.consume_challenge(b"d" * 32, purpose="authentication", now=NOW)
        with raises_rule(ErrorCode.CHALLENGE_EXPIRED):
            store.consume_challenge(b"c" * 32, purpose="authentication", now=NOW + 10)
        assert store.get_challenge(b"c" * 32, purpose="authentication", now=NOW) == pending
        assert store.consume_challenge(b"c" * 32, purpose="authentication", now=NOW) == pending
        with raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
            store.consume_challenge(b"c" * 32, purpose="authentication", now=NOW)
        store.add_challenge(PendingChallenge(b"e" * 32, "registration", NOW - 1))
        assert store.purge_challenges(now=NOW + 86400, keep_used_for=3600) == 2
        with raises_rule(ErrorCode.CHALLENGE_UNKNOWN):
            store.consume_challenge(b"c" * 32, purpose="authentication", now=NOW)


def test_damaged_sqlite_row_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SQLiteStore(path) as store:
        cred = _credential()
        store.add_credential(cred)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE credentials SET cose_key = x'a0'")
    conn.commit()
    conn.close()
    with SQLiteStore(path) as store, pytest.raises(StoreCorrupt):
        store.get_credential(cred.credential_id)


def test_tampered_json_in_a_sqlite_row_is_store_corrupt(tmp_path: Path) -> None:
    # A row is read back as outside input: a deep document must not reach the C parser unbounded.
    path = tmp_path / "s.db"
    with SQLiteStore(path) as store:
        store.add_challenge(PendingChallenge(b"c" * 32, "authentication", expires_at=100.0))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE challenges SET credential_ids = ?", ("[" * 200_000 + "]" * 200_000,))
    conn.commit()
    conn.close()
    with SQLiteStore(path) as store, pytest.raises(StoreCorrupt):
        store.get_challenge(b"c" * 32, purpose="authentication", now=1.0)


WRITER = """
    import sys, time
    from dataclasses import replace
    from sso_signer.webauthn import HeadlessPasskey, open_store
    from sso_signer.exceptions import ChallengeInvalid
    url, writer, count, acks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    base = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost", user_handle=b"u").credential
    store = open_store(url)
    with open(acks, "a") as side:
        print("ready", flush=True)
        for i in range(count):
            credential = replace(base, credential_id=i.to_bytes(8, "big") + bytes([writer]) * 8)
            try:
                store.complete_registration(i.to_bytes(32, "big"), credential, now=1.0, user_handle=b"u")
            except ChallengeInvalid:
                continue  # the other writer won this challenge
            # Acknowledged only after complete_registration returned (committed).
            side.write(f"{i} {writer}\\n")
            side.flush()
    time.sleep(3600)  # done early (a slow test process): still ended by SIGKILL, as the test expects
"""


def _wait_for_the_killed_sessions_to_end(url: str) -> None:
    # A writer killed just after sending COMMIT leaves the server finishing that commit: the checks below
    # must read the state once the server has dropped the killed writers' sessions, not halfway through.
    import psycopg  # the PostgreSQL driver is an optional dependency: imported where it is needed

    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError("the killed writers' sessions were still open after 30 s")


@pytest.mark.parametrize("round_", range(3))
def test_sigkill_of_writers_mid_ceremony_loses_nothing_acknowledged(
    backend: Backend, tmp_path: Path, round_: int
) -> None:
    count = 1500
    with backend.open() as store:
        for i in range(count):
            store.add_challenge(PendingChallenge(i.to_bytes(32, "big"), "registration", 100.0, b"u"))
    acks = tmp_path / "acks.txt"
    writers = [_run_python(WRITER, backend.url, str(w), str(count), str(acks)) for w in (1, 2)]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n", writer.communicate()[1]
    # Kill both at a random point once some ceremonies are acknowledged: each is inside a transaction.
    deadline = time.monotonic() + 60
    while (not acks.exists() or len(acks.read_text().split("\n")) < 40) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.5))
    for writer in writers:
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate(timeout=30)
        assert writer.returncode == -signal.SIGKILL
    if backend.name == "postgres":
        _wait_for_the_killed_sessions_to_end(backend.url)
    acked: dict[int, list[int]] = {}
    for line in acks.read_text().splitlines():
        index, writer_id = map(int, line.split())
        acked.setdefault(index, []).append(writer_id)
    assert len(acked) >= 40
    assert all(len(ids) == 1 for ids in acked.values()), "a challenge was won twice"

    with backend.open() as store:
        stored = {c.credential_id for c in store.credentials_for_user(b"u")}
        used = set()
        for i in range(count):
            try:
                store.get_challenge(i.to_bytes(32, "big"), purpose="registration", now=1.0)
            except ChallengeInvalid:
                used.add(i)
    # Every acknowledged ceremony is there: its challenge consumed and its credential stored.
    for index, (writer_id,) in acked.items():
        assert index in used
        assert index.to_bytes(8, "big") + bytes([writer_id]) * 8 in stored
    # Consumption and credential committed together, and no challenge gave two credentials.
    assert {int.from_bytes(cid[:8], "big") for cid in stored} == used
    assert len(stored) == len(used)
    # At most the one in flight per writer was committed without being acknowledged.
    assert len(used - set(acked)) <= 2


RACER = """
    import sys, time
    from sso_signer.webauthn import open_store
    from sso_signer.exceptions import ChallengeInvalid
    store = open_store(sys.argv[1])
    count = int(sys.argv[2])
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    for i in range(count):
        # Every racer goes for challenge i at the same instant, so each one is a real collision.
        while time.time() < start_at + i * 0.02:
            pass
        try:
            store.consume_challenge(i.to_bytes(32, "big"), purpose="authentication", now=1.0)
            print("won", i, flush=True)
        except ChallengeInvalid as exc:
            print("lost", i, getattr(exc, "rule", type(exc).__name__), flush=True)
"""


@pytest.mark.parametrize("racers", [2, 4])
def test_racing_processes_consume_each_challenge_exactly_once(backend: Backend, racers: int) -> None:
    count = 60
    with backend.open() as store:
        for i in range(count):
            store.add_challenge(PendingChallenge(i.to_bytes(32, "big"), "authentication", expires_at=100.0))
    processes = [_run_python(RACER, backend.url, str(count)) for _ in range(racers)]
    for racer in processes:  # every interpreter is up and connected before the start signal
        assert racer.stdout is not None
        assert racer.stdout.readline() == "ready\n", racer.communicate()[1]
    start_at = time.time() + 0.3
    for racer in processes:
        assert racer.stdin is not None
        racer.stdin.write(f"{start_at}\n")
        racer.stdin.flush()
    outputs = []
    for racer in processes:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        outputs.append(out.split("\n"))
    wins: dict[int, int] = {}
    per_racer = [sum(line.startswith("won") for line in lines) for lines in outputs]
    print("wins per racer", per_racer)
    # Several racers won some: the collisions really happened (one winning all 60 is ~1e-18).
    assert sum(won > 0 for won in per_racer) >= 2, per_racer
    for lines in outputs:
        for line in filter(None, lines):
            verdict, index, *reason = line.split()
            if verdict == "won":
                wins[int(index)] = wins.get(int(index), 0) + 1
            else:
                assert reason == ["challenge_already_used"]
    assert wins == dict.fromkeys(range(count), 1)
    with backend.open() as store, raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
        store.consume_challenge((0).to_bytes(32, "big"), purpose="authentication", now=1.0)


def test_purge_with_now_deletes_expired_challenges_at_once(backend: Backend) -> None:
    with backend.open() as store:
        store.add_challenge(PendingChallenge(b"x" * 32, "authentication", NOW + 10))
        store.add_challenge(PendingChallenge(b"y" * 32, "authentication", NOW + 100))
        store.add_challenge(PendingChallenge(b"u" * 32, "authentication", NOW + 100))
        store.consume_challenge(b"u" * 32, purpose="authentication", now=NOW)
        assert store.purge_challenges(now=NOW + 9) == 0
        assert store.purge_challenges(now=NOW + 10) == 1  # expired: gone at once, not a day later
        with raises_rule(ErrorCode.CHALLENGE_UNKNOWN):
            store.get_challenge(b"x" * 32, purpose="authentication", now=NOW)
        # A used challenge is kept keep_used_for seconds after its use, so a replay still reads as one.
        assert store.purge_challenges(now=NOW + 100, keep_used_for=3600) == 1  # "y" expired, "u" kept
        with raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
            store.consume_challenge(b"u" * 32, purpose="authentication", now=NOW)
        assert store.purge_challenges(now=NOW + 3600, keep_used_for=3600) == 1
        with raises_rule(ErrorCode.CHALLENGE_UNKNOWN):
            store.consume_challenge(b"u" * 32, purpose="authentication", now=NOW)


def _open_new_database(url: str, barrier: Any, index: int, results: Any) -> None:
    barrier.wait(timeout=60)
    try:
        with open_store(url) as store:
            store.add_challenge(PendingChallenge(bytes([index]) * 32, "authentication", NOW))
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported, whatever it is: the test names every failure
        results.put(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_many_processes_opening_a_new_database_at_once(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    """SQLite: switching a new file to WAL is retried; both: the schema is created and migrated once."""
    context = multiprocessing.get_context("fork")  # no interpreter start-up: the opens really coincide
    processes, rounds = 8, 40 if kind == "sqlite" else 5
    server = request.getfixturevalue("sso_postgres") if kind == "postgres" else None
    failures: dict[str, int] = {}
    for round_ in range(rounds):
        if server is None:
            url = str(tmp_path / f"new-{round_}.db")
        else:
            url = server.create_database(f"sso_open_race_{os.getpid()}_{round_}")
        barrier, results = context.Barrier(processes), context.Queue()
        workers = [
            context.Process(target=_open_new_database, args=(url, barrier, i, results))
            for i in range(processes)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        for outcome in outcomes:
            if outcome != "ok":
                failures[outcome] = failures.get(outcome, 0) + 1
        if any(outcome != "ok" for outcome in outcomes):
            continue
        with open_store(url) as store:  # every process's write is there
            for i in range(processes):
                store.get_challenge(bytes([i]) * 32, purpose="authentication", now=NOW - 1)
        assert _versions(url) == list(range(1, SCHEMA_VERSION + 1))  # migrated once, not once per process
    assert failures == {}, f"of {processes * rounds} opens: {failures}"


def _versions(url: str) -> list[int]:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as pg:
            rows = pg.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    else:
        conn = sqlite3.connect(url)
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        conn.close()
    return [int(row[0]) for row in rows]


def test_every_sqlite_error_is_typed(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        SQLiteStore(tmp_path)  # a directory, not a database file
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(StoreCorrupt):
        SQLiteStore(garbage)
    path = tmp_path / "locked.db"
    store = SQLiteStore(path, timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock past the store's timeout
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            store.add_challenge(PendingChallenge(b"l" * 32, "authentication", NOW))
        with pytest.raises(StoreUnavailable, match="locked"):
            SQLiteStore(path, timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.add_challenge(PendingChallenge(b"l" * 32, "authentication", NOW))  # the lock is gone: it works
    store.close()
    with pytest.raises(StoreUnavailable):
        store.get_challenge(b"l" * 32, purpose="authentication", now=NOW)


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("challenges", "expires_at", "tomorrow"),
        ("challenges", "used_at", "yesterday"),
        ("challenges", "expires_at", b"\x01"),
        ("credentials", "user_handle", "alice"),
        ("credentials", "user_handle", 7),
        ("challenges", "user_handle", 7),
    ],
)
def test_mistyped_sqlite_column_is_store_corrupt(tmp_path: Path, table: str, column: str, value: Any) -> None:
    """SQLite keeps whatever type is written into a column: a tampered row's text or number where the SDK
    reads a time or a user handle is StoreCorrupt, never a TypeError out of the ceremony's checks."""
    path = tmp_path / "s.db"
    cred = _credential()
    with SQLiteStore(path) as store:
        store.add_credential(cred)
        store.add_challenge(
            PendingChallenge(b"c" * 32, "authentication", 100.0, user_handle=cred.user_handle)
        )
    conn = sqlite3.connect(path)
    conn.execute(f"UPDATE {table} SET {column} = ?", (value,))  # noqa: S608 - the test's own names
    conn.commit()
    conn.close()
    before = (
        sqlite3.connect(path).execute("SELECT used_at, sign_count FROM challenges, credentials").fetchall()
    )
    with SQLiteStore(path) as store:
        with pytest.raises(StoreCorrupt):
            store.complete_authentication(
                b"c" * 32, cred.credential_id, 1, backup_state=False, now=1.0, user_handle=cred.user_handle
            )
        if table == "challenges":
            with pytest.raises(StoreCorrupt):
                store.get_challenge(b"c" * 32, purpose="authentication", now=1.0)
    after = (
        sqlite3.connect(path).execute("SELECT used_at, sign_count FROM challenges, credentials").fetchall()
    )
    assert after == before
