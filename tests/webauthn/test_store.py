"""The SQLite store: atomic single-use challenges, durability under SIGKILL, races between processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from sso_signer.webauthn import (
    ChallengeAlreadyIssued,
    ChallengeAlreadyUsed,
    ChallengeExpired,
    ChallengePurposeMismatch,
    ChallengeStore,
    ChallengeUnknown,
    CredentialNotFound,
    CredentialStore,
    DuplicateCredential,
    HeadlessPasskey,
    PasskeyCredential,
    PasskeyStore,
    PendingChallenge,
    SQLiteStore,
    StoreCorrupt,
    StoreUnavailable,
)

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


def test_store_satisfies_the_protocols(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        assert isinstance(store, PasskeyStore)
        assert isinstance(store, ChallengeStore)
        assert isinstance(store, CredentialStore)


def test_credentials_crud(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        a, b = _credential(), _credential()
        other = _credential(b"user-2")
        for cred in (a, b, other):
            store.add_credential(cred)
        assert store.credentials_for_user(b"user-1") == [a, b]
        assert store.credentials_for_user(b"nobody") == []
        with pytest.raises(DuplicateCredential):
            store.add_credential(a)
        store.update_sign_count(a.credential_id, 9, backup_state=False)
        updated = store.get_credential(a.credential_id)
        assert updated.sign_count == 9
        assert not updated.backup_state
        store.remove_credential(a.credential_id)
        with pytest.raises(CredentialNotFound):
            store.get_credential(a.credential_id)
        with pytest.raises(CredentialNotFound):
            store.remove_credential(a.credential_id)
        with pytest.raises(CredentialNotFound):
            store.update_sign_count(a.credential_id, 1, backup_state=True)
    # Persisted: a new connection sees the same rows.
    with SQLiteStore(tmp_path / "s.db") as again:
        assert again.credentials_for_user(b"user-1") == [b]


def test_challenge_lifecycle(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        pending = PendingChallenge(b"c" * 32, "authentication", NOW + 10, credential_ids=(b"id-1", b"id-2"))
        store.add_challenge(pending)
        with pytest.raises(ChallengeAlreadyIssued):
            store.add_challenge(pending)
        with pytest.raises(ChallengePurposeMismatch):
            store.consume_challenge(b"c" * 32, purpose="registration", now=NOW)
        with pytest.raises(ChallengeUnknown):
            store.consume_challenge(b"d" * 32, purpose="authentication", now=NOW)
        with pytest.raises(ChallengeExpired):
            store.consume_challenge(b"c" * 32, purpose="authentication", now=NOW + 10)
        assert store.get_challenge(b"c" * 32, purpose="authentication", now=NOW) == pending
        assert store.consume_challenge(b"c" * 32, purpose="authentication", now=NOW) == pending
        with pytest.raises(ChallengeAlreadyUsed):
            store.consume_challenge(b"c" * 32, purpose="authentication", now=NOW)
        store.add_challenge(PendingChallenge(b"e" * 32, "registration", NOW - 1))
        assert store.purge_challenges(now=NOW + 86400, keep_used_for=3600) == 2
        with pytest.raises(ChallengeUnknown):
            store.consume_challenge(b"c" * 32, purpose="authentication", now=NOW)


def test_damaged_row_is_reported(tmp_path: Path) -> None:
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


WRITER = """
    import sys
    from sso_signer.webauthn import HeadlessPasskey, SQLiteStore
    base = HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost", user_handle=b"u").credential
    from dataclasses import replace
    store = SQLiteStore(sys.argv[1])
    start = int(sys.argv[2])
    i = start
    while True:
        store.add_credential(replace(base, credential_id=i.to_bytes(8, "big") * 2))
        print(i, flush=True)  # acknowledged only after add_credential returned (committed)
        i += 1
"""


@pytest.mark.parametrize("round_", range(3))
def test_sigkill_loses_nothing_acknowledged(tmp_path: Path, round_: int) -> None:
    path = tmp_path / "kill.db"
    SQLiteStore(path).close()
    writer = _run_python(WRITER, str(path), str(round_ * 1_000_000))
    assert writer.stdout is not None
    acked: list[int] = []
    deadline = time.monotonic() + 60
    while len(acked) < 40 + 20 * round_ and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        acked.append(int(line))
    os.kill(writer.pid, signal.SIGKILL)  # mid-stream: the writer is inside its next transaction
    writer.wait(timeout=10)
    acked.extend(int(line) for line in writer.stdout.read().split())
    assert writer.returncode == -signal.SIGKILL
    assert len(acked) >= 40, writer.stderr.read() if writer.stderr else ""

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = {
        int.from_bytes(row[0][:8], "big") for row in conn.execute("SELECT credential_id FROM credentials")
    }
    conn.close()
    assert set(acked) <= stored
    # At most the one in flight was committed without being acknowledged.
    assert len(stored - set(acked)) <= 1
    with SQLiteStore(path) as store:
        assert len(store.credentials_for_user(b"u")) == len(stored)


RACER = """
    import sys, time
    from sso_signer.webauthn import ChallengeInvalid, SQLiteStore
    store = SQLiteStore(sys.argv[1])
    count = int(sys.argv[2])
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())  # the same instant for every racer, sent once all are ready
    for i in range(count):
        # Every racer goes for challenge i at the same instant, so each one is a real collision.
        while time.time() < start_at + i * 0.02:
            pass
        try:
            store.consume_challenge(i.to_bytes(32, "big"), purpose="authentication", now=1.0)
            print("won", i, flush=True)
        except ChallengeInvalid as exc:
            print("lost", i, type(exc).__name__, flush=True)
"""


def test_racing_processes_consume_each_challenge_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    count = 60
    with SQLiteStore(path) as store:
        for i in range(count):
            store.add_challenge(PendingChallenge(i.to_bytes(32, "big"), "authentication", expires_at=100.0))
    racers = [_run_python(RACER, str(path), str(count)) for _ in range(2)]
    for racer in racers:  # a loaded machine may take seconds to start an interpreter: wait for both
        assert racer.stdout is not None
        assert racer.stdout.readline() == "ready\n", racer.stderr.read() if racer.stderr else ""
    start_at = time.time() + 0.2
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write(f"{start_at}\n")
        racer.stdin.flush()
    outputs = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        outputs.append(out.split("\n"))
    wins: dict[int, int] = {}
    per_racer = [sum(line.startswith("won") for line in lines) for lines in outputs]
    print("wins per racer", per_racer)
    # Both won some: the collisions really happened (one racer winning all 60 coin flips is ~1e-18).
    assert min(per_racer) > 0, per_racer
    for lines in outputs:
        for line in filter(None, lines):
            verdict, index, *reason = line.split()
            if verdict == "won":
                wins[int(index)] = wins.get(int(index), 0) + 1
            else:
                assert reason == ["ChallengeAlreadyUsed"]
    assert wins == dict.fromkeys(range(count), 1)
    with SQLiteStore(path) as store, pytest.raises(ChallengeAlreadyUsed):
        store.consume_challenge((0).to_bytes(32, "big"), purpose="authentication", now=1.0)


def test_purge_with_now_deletes_expired_challenges_at_once(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as store:
        store.add_challenge(PendingChallenge(b"x" * 32, "authentication", NOW + 10))
        store.add_challenge(PendingChallenge(b"y" * 32, "authentication", NOW + 100))
        store.add_challenge(PendingChallenge(b"u" * 32, "authentication", NOW + 100))
        store.consume_challenge(b"u" * 32, purpose="authentication", now=NOW)
        assert store.purge_challenges(now=NOW + 9) == 0
        assert store.purge_challenges(now=NOW + 10) == 1  # expired: gone at once, not a day later
        with pytest.raises(ChallengeUnknown):
            store.get_challenge(b"x" * 32, purpose="authentication", now=NOW)
        # A used challenge is kept keep_used_for seconds after its use, so a replay still reads as one.
        assert store.purge_challenges(now=NOW + 100, keep_used_for=3600) == 1  # "y" expired, "u" kept
        with pytest.raises(ChallengeAlreadyUsed):
            store.consume_challenge(b"u" * 32, purpose="authentication", now=NOW)
        assert store.purge_challenges(now=NOW + 3600, keep_used_for=3600) == 1
        with pytest.raises(ChallengeUnknown):
            store.consume_challenge(b"u" * 32, purpose="authentication", now=NOW)


def _open_new_file(path: str, barrier: Any, index: int, results: Any) -> None:
    barrier.wait(timeout=60)
    try:
        with SQLiteStore(path) as store:
            store.add_challenge(PendingChallenge(bytes([index]) * 32, "authentication", NOW))
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported, whatever it is: the test names every failure
        results.put(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")


def test_many_processes_opening_a_new_file_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")  # no interpreter start-up: the opens really coincide
    processes, rounds = 8, 40
    failures: dict[str, int] = {}
    for round_ in range(rounds):
        path = str(tmp_path / f"new-{round_}.db")
        barrier, results = context.Barrier(processes), context.Queue()
        workers = [
            context.Process(target=_open_new_file, args=(path, barrier, i, results)) for i in range(processes)
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
        with SQLiteStore(path) as store:  # every process's write is there
            for i in range(processes):
                store.get_challenge(bytes([i]) * 32, purpose="authentication", now=NOW - 1)
    assert failures == {}, f"of {processes * rounds} opens: {failures}"


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


def test_tampered_json_in_a_row_is_store_corrupt(tmp_path: Path) -> None:
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
