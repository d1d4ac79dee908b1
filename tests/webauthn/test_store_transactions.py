"""An application's own operations on a passkey store (``store.transaction`` with ``SqlStatement``): one
text for both backends, one transaction with the store's locking and retries, sync and async, typed errors."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest

from sso_signer.exceptions import ErrorCode, StoreUnavailable
from sso_signer.webauthn import PostgresStore, SqlStatement, _store_postgres, open_async_store
from tests.errors import raises_rule
from tests.webauthn.conftest import Backend

Rows = list[tuple[Any, ...]]


def _schema() -> Generator[SqlStatement, Rows, None]:
    yield SqlStatement(
        "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, body {blob}, at {real}, state TEXT)"
    )


def _add(job: str) -> Generator[SqlStatement, Rows, bool]:
    rows = yield SqlStatement(
        "INSERT INTO jobs (id, body, at, state) VALUES (:id, :body, :at, 'new') ON CONFLICT DO NOTHING"
        " RETURNING id",
        {"id": job, "body": b"\x00\xff", "at": 1.5},
    )
    return bool(rows)


def _claim(job: str) -> Generator[SqlStatement, Rows, str]:
    # Lock, then compare-and-set: the outcome the caller sees comes from the rows the database returned.
    found = yield SqlStatement("SELECT state FROM jobs WHERE id = :id{lock}", {"id": job})
    if not found:
        return "unknown"
    claimed = yield SqlStatement(
        "UPDATE jobs SET state = 'taken' WHERE id = :id AND state = 'new' RETURNING id", {"id": job}
    )
    return "claimed" if claimed else "taken"


def _read(job: str) -> Generator[SqlStatement, Rows, tuple[bytes, float, str]]:
    rows = yield SqlStatement("SELECT body, at, state FROM jobs WHERE id = :id", {"id": job})
    body, at, state = rows[0]
    return bytes(body), float(at), str(state)


def test_one_text_runs_on_both_backends(backend: Backend) -> None:
    with backend.open() as store:
        store.transaction(_schema)
        assert store.transaction(lambda: _add("a"))
        assert not store.transaction(lambda: _add("a"))  # the conflict, seen through RETURNING
        assert store.transaction(lambda: _read("a"), read_only=True) == (b"\x00\xff", 1.5, "new")
        assert store.transaction(lambda: _claim("a")) == "claimed"
        assert store.transaction(lambda: _claim("a")) == "taken"
        assert store.transaction(lambda: _claim("zz")) == "unknown"


def test_async_stores_run_the_same_operations(backend: Backend) -> None:
    async def main() -> None:
        store = await open_async_store(backend.url)
        try:
            await store.transaction(_schema)
            assert await store.transaction(lambda: _add("b"))
            assert await store.transaction(lambda: _claim("b")) == "claimed"
            assert await store.transaction(lambda: _read("b"), read_only=True) == (b"\x00\xff", 1.5, "taken")
        finally:
            await store.close()

    asyncio.run(main())


def _count() -> Generator[SqlStatement, Rows, int]:
    rows = yield SqlStatement("SELECT count(*) FROM jobs")
    return int(rows[0][0])


def test_an_operation_that_fails_midway_writes_nothing(backend: Backend) -> None:
    def half() -> Generator[SqlStatement, Rows, None]:
        yield SqlStatement("INSERT INTO jobs (id, state) VALUES ('half', 'new')")
        yield SqlStatement("INSERT INTO no_such_table VALUES (1)")

    with backend.open() as store:
        store.transaction(_schema)
        with pytest.raises(StoreUnavailable, match="no_such_table"):
            store.transaction(half)
        assert store.transaction(_count, read_only=True) == 0


def test_unknown_words_and_foreign_yields_are_configuration_errors(backend: Backend) -> None:
    def wrong_word() -> Generator[SqlStatement, Rows, None]:
        yield SqlStatement("SELECT {table}")

    def not_a_statement() -> Generator[Any, Rows, None]:
        yield "SELECT 1"

    with backend.open() as store:
        with raises_rule(ErrorCode.STORE_CONFIGURATION, match="blob"):
            store.transaction(wrong_word)
        with raises_rule(ErrorCode.STORE_CONFIGURATION, match="SqlStatement"):
            store.transaction(not_a_statement)


def test_a_serialization_failure_runs_the_whole_operation_again(sso_postgres_url: str) -> None:
    import psycopg

    made = []

    def counted() -> Generator[SqlStatement, Rows, str]:
        made.append(1)
        return (yield from _claim("c"))

    with PostgresStore(sso_postgres_url) as store:
        store.transaction(_schema)
        store.transaction(lambda: _add("c"))
        original = _store_postgres._perform
        failures = {"left": 1}

        def perform(conn: Any, command: Any) -> Any:
            if getattr(command, "text", None) and "UPDATE jobs" in command.text and failures["left"]:
                failures["left"] -= 1
                conn.execute("SELECT 1/0")
            return original(conn, command)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_store_postgres, "_perform", perform)
            patch.setattr(psycopg.errors.DivisionByZero, "sqlstate", "40001")
            assert store.transaction(counted) == "claimed"
        assert len(made) == 2  # made afresh for the retry: the first attempt's reads are not reused
