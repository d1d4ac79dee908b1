"""The embedded store: SQLite through the stdlib ``sqlite3``, and its asyncio wrapper."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import ParamSpec, TypeVar

from sso_signer.exceptions import StoreCorrupt, StoreUnavailable
from sso_signer.webauthn import _store_sql as sql

__all__ = ["AsyncSQLiteStore", "SQLiteStore"]

T = TypeVar("T")
P = ParamSpec("P")

_STATEMENTS = {
    **sql.statements(postgres=False),
    "challenge_columns": "SELECT name FROM pragma_table_info('challenges')",
    "lock_schema": "SELECT 1",  # the IMMEDIATE transaction holds the write lock already
}


def _is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


@contextmanager
def _typed(doing: str) -> Iterator[None]:
    """Turn every sqlite3 error into a typed store error (callers never see a bare OperationalError)."""
    try:
        yield
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", "") or type(exc).__name__
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            raise StoreCorrupt(
                f"the passkey database is damaged or not SQLite ({doing}): {exc} [{name}]"
            ) from exc
        raise StoreUnavailable(f"the passkey store failed {doing}: {exc} [{name}]") from exc


class SQLiteStore(sql.Operations):
    """A :class:`PasskeyStore` on an SQLite file (stdlib ``sqlite3``), safe across threads and processes.

    WAL journal with ``synchronous=FULL``: once a write method returns, the row survives a killed process
    (and a power cut). Every call is one transaction that takes the write lock first (``BEGIN IMMEDIATE``),
    so checks and updates of one call cannot interleave with another process's: of several processes
    racing for one challenge exactly one succeeds, and a counter never moves backwards. Every ``sqlite3``
    error surfaces as :class:`StoreUnavailable` (locked past ``timeout``, I/O, closed) or
    :class:`StoreCorrupt` (damaged file). The schema is created, or migrated forward in place, at open.

    Args:
        path: Database file; ``":memory:"`` for a private in-process store.
        timeout: Seconds to wait for another writer's lock (opening included).

    Raises:
        StoreUnavailable: The file cannot be opened or stays locked past ``timeout``.
        StoreCorrupt: The file is not an SQLite database.
        ConfigurationError (``STORE_CONFIGURATION``): The file's schema is newer than this sso-signer's.
    """

    postgres_dialect = False

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self._path = os.fspath(path)
        self._lock = threading.RLock()
        with _typed("opening the database"):
            self._conn = sqlite3.connect(
                self._path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            try:
                self._set_up(timeout)
            except BaseException:
                self._conn.close()
                raise

    def _set_up(self, timeout: float) -> None:
        # Switching a new file to WAL needs an exclusive lock and SQLite answers BUSY at once instead of
        # calling the busy handler (several processes opening one new file): retry until the timeout.
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                # One IMMEDIATE transaction: two processes never both migrate.
                self._run(partial(sql.migrate, "challenge_columns"), "migrate")
                return
            except (StoreUnavailable, sqlite3.OperationalError) as exc:
                cause = exc.__cause__ if isinstance(exc, StoreUnavailable) else exc
                if not isinstance(cause, sqlite3.Error) or not _is_busy(cause):
                    raise
                if time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self._lock, _typed("reading the schema version"):
            return int(self._conn.execute(_STATEMENTS["read_version"]).fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock, _typed("closing"):
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"

    def _perform(self, command: sql.Query | sql.Commit) -> sql.Reply | None:
        if isinstance(command, sql.Commit):
            self._conn.execute("COMMIT")
            return None
        text = _STATEMENTS[command.name] if command.text is None else command.text
        cursor = self._conn.execute(text, command.params)
        return sql.Reply(cursor.fetchall(), cursor.rowcount)

    def _run(self, make: Callable[[], sql.Op[T]], doing: str) -> T:
        """Run one operation in its own transaction: IMMEDIATE (the write lock taken before any read) unless
        the operation only reads."""
        with self._lock, _typed(f"in {doing}()"):
            self._conn.execute("BEGIN" if doing in sql.READ_ONLY else "BEGIN IMMEDIATE")
            op = make()
            try:
                done, value = sql.step(op, None, None)
                while not done:
                    done, value = sql.step(op, self._perform(value), None)
            except BaseException:
                if self._conn.in_transaction:  # SQLite may already have rolled back (disk full, I/O)
                    self._conn.execute("ROLLBACK")
                raise
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
            result: T = value
            return result


class AsyncSQLiteStore(sql.Operations):
    """:class:`SQLiteStore` for asyncio: each call runs in a worker thread, so the event loop never blocks.

    The arguments, guarantees and errors are those of :class:`SQLiteStore` (whose lock serialises the calls).
    """

    postgres_dialect = False

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.sync = SQLiteStore(path, timeout=timeout)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    async def close(self) -> None:
        """Close the connection."""
        self.sync.close()

    async def __aenter__(self) -> AsyncSQLiteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, make: Callable[[], sql.Op[T]], doing: str) -> T:
        return await asyncio.to_thread(self.sync._run, make, doing)
