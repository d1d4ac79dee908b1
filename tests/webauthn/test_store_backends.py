"""What differs between the store backends: URLs, schema versions and migrations, the async stores, and
PostgreSQL's own failures (refused and lost connections, serialization failures, damaged rows)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sso_signer._codec import b64url_decode, b64url_encode
from sso_signer.exceptions import ErrorCode, StoreCorrupt, StoreUnavailable
from sso_signer.webauthn import (
    AsyncPasskeyStore,
    AsyncPostgresStore,
    AsyncSQLiteStore,
    HeadlessPasskey,
    PasskeyCredential,
    PendingChallenge,
    PostgresStore,
    SQLiteStore,
    _store_postgres,
    open_async_store,
    open_store,
)
from sso_signer.webauthn._store_sql import COMMIT, SCHEMA_VERSION
from tests.errors import raises_rule
from tests.webauthn.conftest import Backend

NOW = 1_700_000_000.0


def _credential(user: bytes = b"user-1") -> PasskeyCredential:
    return HeadlessPasskey.generate(rp_id="localhost", origin="http://localhost", user_handle=user).credential


# --- URLs ------------------------------------------------------------------------------------------------


def test_urls_name_the_backend(tmp_path: Path) -> None:
    with open_store(f"sqlite://{tmp_path}/a.db") as store:
        assert isinstance(store, SQLiteStore)
    assert (tmp_path / "a.db").exists()
    with open_store("sqlite://:memory:") as store:
        assert isinstance(store, SQLiteStore)
    with open_store(str(tmp_path / "bare.db")) as store:  # a bare path, as the CLI always took
        assert isinstance(store, SQLiteStore)
    for bad in ("mysql://host/db", "sqlite://relative.db", ""):
        with raises_rule(ErrorCode.STORE_CONFIGURATION):
            open_store(bad)


def test_postgres_url_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    with raises_rule(ErrorCode.STORE_CONFIGURATION, match=r"sso-signer\[postgres\]"):
        open_store("postgresql://nobody@127.0.0.1:1/none")


def test_refused_connection_is_typed() -> None:
    with pytest.raises(StoreUnavailable, match=r"refused|connect") as caught:
        open_store("postgresql://user:secret@127.0.0.1:1/none", timeout=2)
    assert "secret" not in str(caught.value)  # the password never reaches a log line


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://127.0.0.1:1/none?user=me&password=secret",  # libpq takes it as a query parameter too
        "host=127.0.0.1 port=1 dbname=none password=secret",  # and in a key=value string (PostgresStore)
        "postgresql://user:secret@127.0.0.1:1/none?sslmode=disable",
    ],
)
def test_no_spelling_of_the_password_reaches_the_error_or_repr(url: str) -> None:
    # Attack: an error message (logged by a backend, shown by the CLI) that carries the database password.
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore(url, timeout=2)
    assert "secret" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)  # still says where


# --- schema versions ---------------------------------------------------------------------------------------


def test_schema_version_is_recorded_and_a_newer_one_refused(backend: Backend) -> None:
    with backend.open() as store:
        store.add_challenge(PendingChallenge(b"v" * 32, "authentication", NOW))
    newer = SCHEMA_VERSION + 1
    _execute(backend, f"INSERT INTO schema_version (version) VALUES ({newer})")  # noqa: S608 - an int
    with raises_rule(ErrorCode.STORE_CONFIGURATION, match="newer"):
        backend.open()
    _execute(backend, f"DELETE FROM schema_version WHERE version = {newer}")  # noqa: S608 - an int
    with backend.open() as store:  # reopened: nothing was migrated twice, the row is still there
        assert store.get_challenge(b"v" * 32, purpose="authentication", now=NOW - 1).challenge == b"v" * 32
    assert _query(backend, "SELECT version FROM schema_version ORDER BY version") == [
        (v,) for v in range(1, SCHEMA_VERSION + 1)
    ]


def test_an_unversioned_sqlite_file_from_before_discoverable_migrates_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE credentials (credential_id BLOB PRIMARY KEY, user_handle BLOB NOT NULL,
            user_name TEXT NOT NULL, rp_id TEXT NOT NULL, origin TEXT NOT NULL, cose_key BLOB NOT NULL,
            sign_count INTEGER NOT NULL, backup_eligible INTEGER NOT NULL, backup_state INTEGER NOT NULL,
            transports TEXT NOT NULL, aaguid BLOB NOT NULL, created_at REAL NOT NULL);
        CREATE TABLE challenges (challenge BLOB PRIMARY KEY, purpose TEXT NOT NULL, expires_at REAL NOT NULL,
            user_handle BLOB, user_name TEXT NOT NULL, credential_ids TEXT NOT NULL, used_at REAL);
        INSERT INTO challenges VALUES (x'01', 'authentication', 2e9, NULL, '', '[]', NULL);
        """
    )
    conn.close()
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        kept = store.get_challenge(b"\x01", purpose="authentication", now=NOW)
        assert not kept.discoverable  # an old row reads as not discoverable: fail closed
        credential = _credential()
        store.add_credential(credential)
        assert store.get_credential(credential.credential_id) == credential


# --- async stores ------------------------------------------------------------------------------------------


async def _ceremony_ends(store: AsyncPasskeyStore) -> None:
    credential = _credential(b"async-user")
    await store.add_challenge(PendingChallenge(b"r" * 32, "registration", NOW + 60, b"async-user"))
    await store.complete_registration(b"r" * 32, credential, now=NOW, user_handle=b"async-user")
    assert await store.credentials_for_user(b"async-user") == [credential]
    await store.add_challenge(
        PendingChallenge(b"a" * 32, "authentication", NOW + 60, credential_ids=(credential.credential_id,))
    )
    await store.complete_authentication(b"a" * 32, credential.credential_id, 3, backup_state=False, now=NOW)
    with raises_rule(ErrorCode.CHALLENGE_ALREADY_USED):
        await store.consume_challenge(b"a" * 32, purpose="authentication", now=NOW)
    with raises_rule(ErrorCode.COUNTER_REGRESSION):
        await store.update_sign_count(credential.credential_id, 2, backup_state=False)
    assert (await store.get_credential(credential.credential_id)).sign_count == 3
    assert await store.purge_challenges(now=NOW + 10**6) == 2


def test_async_stores_keep_the_contract(backend: Backend) -> None:
    async def main() -> None:
        store = await open_async_store(backend.url)
        assert isinstance(store, AsyncPostgresStore if backend.name == "postgres" else AsyncSQLiteStore)
        assert isinstance(store, AsyncPasskeyStore)
        try:
            await _ceremony_ends(store)
        finally:
            await store.close()

    asyncio.run(main())


# --- PostgreSQL failures -----------------------------------------------------------------------------------


def _execute(backend: Backend, statement: str) -> None:
    if backend.name == "sqlite":
        conn = sqlite3.connect(backend.url.removeprefix("sqlite://"))
        conn.execute(statement)
        conn.commit()
        conn.close()
        return
    import psycopg

    with psycopg.connect(backend.url, autocommit=True) as pg:
        pg.execute(statement.encode())


def _query(backend: Backend, statement: str) -> list[tuple[Any, ...]]:
    if backend.name == "sqlite":
        conn = sqlite3.connect(backend.url.removeprefix("sqlite://"))
        try:
            return conn.execute(statement).fetchall()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(backend.url) as pg:
        return pg.execute(statement.encode()).fetchall()


def test_damaged_postgres_row_is_reported(sso_postgres_url: str) -> None:
    backend = Backend("postgres", sso_postgres_url)
    with backend.open() as store:
        credential = _credential()
        store.add_credential(credential)
        _execute(backend, "UPDATE credentials SET cose_key = '\\xa0'::bytea")
        with pytest.raises(StoreCorrupt):
            store.get_credential(credential.credential_id)


def test_connection_killed_mid_transaction_is_typed_and_nothing_is_written(sso_postgres_url: str) -> None:
    import psycopg

    with PostgresStore(sso_postgres_url, max_size=1) as store:
        store.add_challenge(PendingChallenge(b"k" * 32, "authentication", NOW + 60))
        original = _store_postgres._perform

        def perform(conn: Any, command: Any) -> Any:
            # Fault injection: the server ends this session between the statements of the transaction.
            if getattr(command, "name", "") == "use_challenge":
                with psycopg.connect(sso_postgres_url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            return original(conn, command)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_store_postgres, "_perform", perform)
            with pytest.raises(StoreUnavailable) as caught:
                store.consume_challenge(b"k" * 32, purpose="authentication", now=NOW)
        assert caught.value.outcome_known  # lost before COMMIT: the server rolled it back
        # The pool replaced the dead connection, and the challenge is still usable: nothing was written.
        assert store.consume_challenge(b"k" * 32, purpose="authentication", now=NOW).challenge == b"k" * 32


def test_connection_lost_during_commit_says_the_outcome_is_unknown(sso_postgres_url: str) -> None:
    import psycopg

    with PostgresStore(sso_postgres_url, max_size=1) as store:
        store.add_challenge(PendingChallenge(b"u" * 32, "authentication", NOW + 60))
        original = _store_postgres._perform

        def perform(conn: Any, command: Any) -> Any:
            if command is COMMIT:  # the link drops while COMMIT is in flight
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return original(conn, command)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_store_postgres, "_perform", perform)
            with pytest.raises(StoreUnavailable, match="outcome is unknown") as caught:
                store.consume_challenge(b"u" * 32, purpose="authentication", now=NOW)
        assert not caught.value.outcome_known


def test_serialization_failures_are_retried_then_typed(sso_postgres_url: str) -> None:
    import psycopg

    with PostgresStore(sso_postgres_url) as store:
        store.add_challenge(PendingChallenge(b"s" * 32, "authentication", NOW + 60))
        original = _store_postgres._perform
        failures = {"left": 2}

        def perform(conn: Any, command: Any) -> Any:
            if getattr(command, "name", "") == "use_challenge" and failures["left"] > 0:
                failures["left"] -= 1
                conn.execute("SELECT 1/0")  # abort the transaction as a real failure would...
            return original(conn, command)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_store_postgres, "_perform", perform)
            patch.setattr(psycopg.errors.DivisionByZero, "sqlstate", "40001")  # ...reported as 40001
            # Two failures, then success: retried (after a rollback) and consumed exactly once.
            assert store.consume_challenge(b"s" * 32, purpose="authentication", now=NOW).challenge
            assert failures["left"] == 0
            store.add_challenge(PendingChallenge(b"t" * 32, "authentication", NOW + 60))
            failures["left"] = 99
            with pytest.raises(StoreUnavailable, match="40001"):
                store.consume_challenge(b"t" * 32, purpose="authentication", now=NOW)
        assert failures["left"] == 99 - 5  # bounded: five attempts in all
        assert store.get_challenge(b"t" * 32, purpose="authentication", now=NOW)  # nothing written


# --- the CLI --------------------------------------------------------------------------------------------


def test_cli_registers_a_passkey_in_the_store_its_url_names(backend: Backend, tmp_path: Path) -> None:
    key = tmp_path / "alice.pem"

    def cli(*args: str, code: int = 0) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "sso_signer.cli", *args, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == code, done.stdout + done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    cli("passkey", "create", "--out", str(key), "--origin", "https://app.example", "--rp-id", "app.example")
    registered = cli("passkey", "register", "--key", str(key), "--store", backend.url, "--user-name", "alice")
    assert registered["store"] == backend.url
    with backend.open() as store:
        (stored,) = store.credentials_for_user(b64url_decode(registered["user_handle"]))
    assert b64url_encode(stored.credential_id) == registered["credential_id"]
    again = cli("passkey", "register", "--key", str(key), "--store", backend.url, code=1)
    assert again["error"]["rule"] == "duplicate_credential"
    refused = cli("passkey", "register", "--key", str(key), "--store", "mysql://x/y", code=3)  # configuration
    assert refused["error"]["rule"] == "store_configuration"
