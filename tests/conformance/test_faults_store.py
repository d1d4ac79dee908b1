"""Storage faults beyond tests/webauthn/test_store.py (which covers a SIGKILLed ``add_credential`` writer and
two racing consumers): a whole relying-party registration ceremony killed mid-way, a challenge consumer killed
mid-consumption, and a racer killed while the other keeps consuming. Real processes, real SIGKILL, a real
SQLite file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sso_signer.exceptions import ChallengeInvalid, ErrorCode
from sso_signer.webauthn import PendingChallenge, SQLiteStore
from tests.errors import raises_rule

REPO = Path(__file__).resolve().parents[2]


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )


def _read_acks(proc: subprocess.Popen[str], wanted: int, timeout: float = 60) -> list[str]:
    """Lines the child printed (each one after the write it names returned), up to ``wanted``."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < wanted and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
    return lines


def _kill(proc: subprocess.Popen[str], acked: list[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stdout is not None
    acked.extend(line for line in proc.stdout.read().split("\n") if line)
    assert proc.returncode == -signal.SIGKILL


def _integrity(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    return conn


REGISTRAR = """
    import sys
    from sso_signer._codec import b64url_decode
    from sso_signer.webauthn import HeadlessPasskey, RelyingParty, SQLiteStore
    rp = RelyingParty(rp_id="kill.example", rp_name="Kill", origins="https://kill.example",
                      store=SQLiteStore(sys.argv[1]))
    i = 0
    while True:
        options = rp.registration_options(user_name=f"user{i}")
        passkey = HeadlessPasskey.generate(rp_id="kill.example", origin="https://kill.example")
        response = passkey.register_from_options(options)
        credential = rp.verify_registration(response, user_handle=b64url_decode(options["user"]["id"]))
        print(credential.credential_id.hex(), flush=True)  # acknowledged: verify_registration returned
        i += 1
"""


@pytest.mark.parametrize("acks", [5, 17])
def test_registration_ceremony_killed_keeps_challenge_and_credential_together(
    tmp_path: Path, acks: int
) -> None:
    path = tmp_path / "rp.db"
    SQLiteStore(path).close()
    proc = _spawn(REGISTRAR, str(path))
    acked = _read_acks(proc, acks)
    _kill(proc, acked)
    assert len(acked) >= acks, proc.stderr.read() if proc.stderr else ""

    conn = _integrity(path)
    stored = {row[0].hex() for row in conn.execute("SELECT credential_id FROM credentials")}
    used = conn.execute(
        "SELECT COUNT(*) FROM challenges WHERE purpose = 'registration' AND used_at IS NOT NULL"
    ).fetchone()[0]
    pending = conn.execute("SELECT COUNT(*) FROM challenges WHERE used_at IS NULL").fetchone()[0]
    conn.close()
    assert set(acked) <= stored  # every acknowledged registration survived
    assert len(stored - set(acked)) <= 1  # at most the one in flight committed unacknowledged
    # Consume-and-store is one transaction: never a credential without its used challenge, or the reverse.
    assert used == len(stored)
    assert pending <= 1  # the ceremony in flight may have issued its options only
    with SQLiteStore(path) as store:
        for credential_id in acked:  # and each reads back through the store's own API
            assert store.get_credential(bytes.fromhex(credential_id)).credential_id.hex() == credential_id


CONSUMER = """
    import sys
    from sso_signer.webauthn import SQLiteStore
    store = SQLiteStore(sys.argv[1])
    for i in range(int(sys.argv[2])):
        store.consume_challenge(i.to_bytes(32, "big"), purpose="authentication", now=1.0)
        print(i, flush=True)  # acknowledged: the consumption committed
"""


def _challenges(path: Path, count: int) -> None:
    with SQLiteStore(path) as store:
        for i in range(count):
            store.add_challenge(PendingChallenge(i.to_bytes(32, "big"), "authentication", expires_at=100.0))


def test_consumer_killed_mid_consumption(tmp_path: Path) -> None:
    path = tmp_path / "consume.db"
    count = 400
    _challenges(path, count)
    proc = _spawn(CONSUMER, str(path), str(count))
    acked = _read_acks(proc, 60)
    _kill(proc, acked)
    consumed_by_child = {int(a) for a in acked}
    assert len(consumed_by_child) >= 60
    _integrity(path).close()

    with SQLiteStore(path) as store:
        # Every acknowledged consumption is there: consuming again is refused.
        for i in consumed_by_child:
            with raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
                store.consume_challenge(i.to_bytes(32, "big"), purpose="authentication", now=1.0)
        won_after = set()
        for i in set(range(count)) - consumed_by_child:
            try:
                store.consume_challenge(i.to_bytes(32, "big"), purpose="authentication", now=1.0)
                won_after.add(i)
            except ChallengeInvalid:
                # Only the consumption in flight at the kill may have committed without its ack.
                assert i == max(consumed_by_child) + 1
        assert len(won_after) >= count - len(consumed_by_child) - 1
        # And nothing is consumable twice.
        for i in range(count):
            with raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
                store.consume_challenge(i.to_bytes(32, "big"), purpose="authentication", now=1.0)


RACER = """
    import sys
    from sso_signer.webauthn import SQLiteStore
    from sso_signer.exceptions import ChallengeInvalid
    store = SQLiteStore(sys.argv[1])
    for i in range(int(sys.argv[2])):
        try:
            store.consume_challenge(i.to_bytes(32, "big"), purpose="authentication", now=1.0)
            print("won", i, flush=True)
        except ChallengeInvalid as exc:
            print("lost", i, getattr(exc, "rule", type(exc).__name__), flush=True)
"""


def test_racer_killed_while_the_other_consumes(tmp_path: Path) -> None:
    path = tmp_path / "race-kill.db"
    count = 300
    _challenges(path, count)
    victim = _spawn(RACER, str(path), str(count))
    survivor = _spawn(RACER, str(path), str(count))
    victim_lines = _read_acks(victim, 40)
    _kill(victim, victim_lines)
    out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err

    def wins(lines: list[str]) -> set[int]:
        return {int(line.split()[1]) for line in lines if line.startswith("won")}

    victim_wins, survivor_wins = wins(victim_lines), wins(out.split("\n"))
    assert not victim_wins & survivor_wins  # never consumed twice
    # Everything was consumed by someone, except possibly the victim's unacknowledged one in flight.
    assert len(victim_wins | survivor_wins) >= count - 1
    for line in filter(None, out.split("\n")):
        if line.startswith("lost"):
            assert line.split()[2] == "challenge_already_used"
    with SQLiteStore(path) as store:
        for i in range(count):
            with raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
                store.consume_challenge(i.to_bytes(32, "big"), purpose="authentication", now=1.0)
