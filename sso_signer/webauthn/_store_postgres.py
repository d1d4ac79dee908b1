"""The PostgreSQL stores (sync and async) on psycopg 3 with a connection pool: the ``postgres`` extra.

psycopg is imported when a store is opened, never at import time, so the SDK works without the extra and a
PostgreSQL URL without it is a :class:`~sso_signer.exceptions.ConfigurationError`
(``ErrorCode.STORE_CONFIGURATION``) naming the extra.

Transactions run at READ COMMITTED with explicit row locks: the challenge row is read ``FOR UPDATE`` (a
racing consumer waits, then reads it used), the credential row too, and the counter moves by
compare-and-set. A serialization failure or deadlock (SQLSTATE 40001, 40P01) aborts the whole transaction
before anything is committed, so it is retried a bounded number of times; every other failure is typed.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sso_signer.exceptions import (
    ConfigurationError,
    ErrorCode,
    SsoSignerError,
    StoreCorrupt,
    StoreUnavailable,
)
from sso_signer.webauthn import _store_sql as sql

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["AsyncPostgresStore", "PostgresStore"]

T = TypeVar("T")

_STATEMENTS = {
    **sql.statements(postgres=True),
    "challenge_columns": (
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = 'challenges'"
    ),
    # Two processes opening a new database at once: the second waits, then finds the schema made.
    "lock_schema": "SELECT pg_advisory_xact_lock(7153028921)",
}
_ATTEMPTS: Final = 5  # a serialization failure is retried this many times in all
_RETRYABLE: Final = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


class _Rollback:
    """Roll back the failed attempt before retrying it."""


@dataclass(frozen=True, slots=True)
class _Sleep:
    seconds: float


_ROLLBACK: Final = _Rollback()
Command = sql.Query | sql.Commit | _Rollback | _Sleep


def _psycopg() -> Any:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise ConfigurationError(
            f"a PostgreSQL store needs psycopg 3 and psycopg-pool ({exc}): install sso-signer[postgres]",
            rule=ErrorCode.STORE_CONFIGURATION,
        ) from exc
    return psycopg, psycopg_pool


def _typed_error(exc: psycopg.Error, doing: str, *, committing: bool) -> SsoSignerError:
    _, pool = _psycopg()
    state = getattr(exc, "sqlstate", None) or type(exc).__name__
    detail = f"{str(exc).strip() or type(exc).__name__} [{state}]"
    if isinstance(exc, pool.PoolTimeout):
        return StoreUnavailable(f"the passkey store failed {doing}: no pooled connection in time: {detail}")
    if state.startswith("XX"):  # internal error class: data_corrupted, index_corrupted
        return StoreCorrupt(f"the PostgreSQL server reports damaged data ({doing}): {detail}")
    if committing and getattr(exc, "sqlstate", None) is None:
        # The connection went away while COMMIT was in flight: the server may have committed or not.
        return StoreUnavailable(
            f"the connection to PostgreSQL was lost while committing ({doing}): the outcome is unknown,"
            f" read the state back before retrying: {detail}",
            outcome_known=False,
        )
    return StoreUnavailable(f"the passkey store failed {doing}, nothing was written: {detail}")


def _attempts(make: Callable[[], sql.Op[T]], doing: str) -> Generator[Command, Any, T]:
    """Run an operation as a transaction, retrying serialization failures; errors come back typed.

    The driver sends each command's reply in, or throws the database error it raised.
    """
    psycopg, _ = _psycopg()
    for attempt in range(1, _ATTEMPTS + 1):
        op = make()
        command: Command = sql.COMMIT
        try:
            done, command = sql.step(op, None, None)
            while not done:
                done, command = sql.step(op, (yield command), None)
            result: T = command  # type: ignore[assignment]  # the op's return value
            command = sql.COMMIT
            yield command
            return result
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) in _RETRYABLE and attempt < _ATTEMPTS:
                yield _ROLLBACK
                yield _Sleep(0.001 * 2**attempt)
                continue
            raise _typed_error(exc, doing, committing=command is sql.COMMIT) from exc
    raise AssertionError("unreachable: the last attempt returns or raises")


def _text(query: sql.Query) -> Any:
    # psycopg wants a LiteralString: these are the SDK's literal statements or an application's own
    # (its SqlStatement text; values travel as parameters, never in the text).
    return _STATEMENTS[query.name] if query.text is None else query.text


def _perform(conn: psycopg.Connection[Any], command: Command) -> sql.Reply | None:
    if isinstance(command, sql.Query):
        cursor = conn.execute(_text(command), command.params)
        return sql.Reply(cursor.fetchall() if cursor.description else [], cursor.rowcount)
    if isinstance(command, _Sleep):
        time.sleep(command.seconds)
    else:
        (conn.commit if isinstance(command, sql.Commit) else conn.rollback)()
    return None


async def _perform_async(conn: psycopg.AsyncConnection[Any], command: Command) -> sql.Reply | None:
    if isinstance(command, sql.Query):
        cursor = await conn.execute(_text(command), command.params)
        return sql.Reply(await cursor.fetchall() if cursor.description else [], cursor.rowcount)
    if isinstance(command, _Sleep):
        await asyncio.sleep(command.seconds)
    else:
        await (conn.commit if isinstance(command, sql.Commit) else conn.rollback)()
    return None


def _drive(gen: Generator[Command, Any, T], perform: Callable[[Command], sql.Reply | None]) -> T:
    psycopg, _ = _psycopg()
    done, value = sql.step(gen, None, None)
    while not done:
        try:
            reply, error = perform(value), None
        except psycopg.Error as exc:
            reply, error = None, exc  # thrown into the transaction, which retries or types it
        done, value = sql.step(gen, reply, error)
    result: T = value
    return result


async def _drive_async(
    gen: Generator[Command, Any, T], perform: Callable[[Command], Awaitable[sql.Reply | None]]
) -> T:
    psycopg, _ = _psycopg()
    done, value = sql.step(gen, None, None)
    while not done:
        try:
            reply, error = await perform(value), None
        except psycopg.Error as exc:
            reply, error = None, exc
        done, value = sql.step(gen, reply, error)
    result: T = value
    return result


# libpq takes a password in the URL's user info, as a query parameter and as a key=value pair: all three go.
_USER_INFO: Final = re.compile(r"//[^/?#]*@")
_PASSWORD: Final = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)", re.IGNORECASE)


def _where(url: str) -> str:
    """The connection string without its password (for messages and ``repr``)."""
    return _PASSWORD.sub(r"\1***", _USER_INFO.sub("//", url))


def _connect_error(exc: Exception, url: str) -> StoreUnavailable:
    return StoreUnavailable(f"cannot open the PostgreSQL passkey store at {_where(url)}: {exc}")


_MIGRATE: Final = partial(sql.migrate, "challenge_columns")


class PostgresStore(sql.Operations):
    """A :class:`PasskeyStore` on a PostgreSQL server, shared by any number of processes and hosts.

    Every call is one transaction on a pooled connection (``psycopg_pool.ConnectionPool``): each challenge
    is consumed exactly once across all of them, a ceremony's consumption and credential change commit
    together, and counters move by compare-and-set. The schema is created, or migrated forward, at open
    (under an advisory lock, so concurrent opens are safe).

    Args:
        url: A libpq connection URL or string (``postgresql://user:pass@host:5432/db``,
            ``postgresql:///db?host=/run/postgresql``).
        min_size: Connections the pool keeps open.
        max_size: Connections the pool may open.
        timeout: Seconds to connect, and to wait for a free pooled connection.

    Raises:
        ConfigurationError (``STORE_CONFIGURATION``): psycopg is not installed (extra ``postgres``), or the
            schema is newer than this sso-signer's.
        StoreUnavailable: The server cannot be reached (refused, unknown host, authentication).
    """

    postgres_dialect = True

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0) -> None:
        psycopg, pool = _psycopg()
        self._url = url
        try:
            with psycopg.connect(url, connect_timeout=max(1, round(timeout))) as conn:
                self._schema_found = _drive(
                    _attempts(_MIGRATE, "migrating the schema"), partial(_perform, conn)
                )
        except psycopg.Error as exc:
            raise _connect_error(exc, url) from exc
        self._pool: psycopg_pool.ConnectionPool[Any] = pool.ConnectionPool(
            url, min_size=min_size, max_size=max_size, timeout=timeout, open=True, name="sso-signer"
        )

    def __repr__(self) -> str:
        return f"PostgresStore({_where(self._url)!r})"

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, make: Callable[[], sql.Op[T]], doing: str) -> T:
        psycopg, _ = _psycopg()
        try:
            with self._pool.connection() as conn:
                return _drive(_attempts(make, f"in {doing}()"), partial(_perform, conn))
        except psycopg.Error as exc:  # no connection from the pool, or the pool is closed
            raise _typed_error(exc, doing, committing=False) from exc


class AsyncPostgresStore(sql.Operations):
    """:class:`PostgresStore` for asyncio (``psycopg_pool.AsyncConnectionPool``), opened by :meth:`open`.

    The same statements, transactions, guarantees and errors as the sync store.
    """

    postgres_dialect = True

    def __init__(self, url: str, pool: psycopg_pool.AsyncConnectionPool[Any]) -> None:
        """Use :meth:`open`: it migrates the schema and opens the pool."""
        self._url = url
        self._pool = pool

    @classmethod
    async def open(
        cls, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0
    ) -> AsyncPostgresStore:
        """Connect, create or migrate the schema, and open the pool (arguments as :class:`PostgresStore`).

        Raises:
            ConfigurationError (``STORE_CONFIGURATION``): psycopg is not installed, or the schema is newer
                than this sso-signer's.
            StoreUnavailable: The server cannot be reached.
        """
        psycopg, pool = _psycopg()
        try:
            async with await psycopg.AsyncConnection.connect(
                url, connect_timeout=max(1, round(timeout))
            ) as conn:
                migration = _attempts(_MIGRATE, "migrating the schema")
                await _drive_async(migration, partial(_perform_async, conn))
        except psycopg.Error as exc:
            raise _connect_error(exc, url) from exc
        connections = pool.AsyncConnectionPool(
            url, min_size=min_size, max_size=max_size, timeout=timeout, open=False, name="sso-signer"
        )
        await connections.open()
        return cls(url, connections)

    def __repr__(self) -> str:
        return f"AsyncPostgresStore({_where(self._url)!r})"

    async def close(self) -> None:
        """Close the pool's connections."""
        await self._pool.close()

    async def __aenter__(self) -> AsyncPostgresStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _run(self, make: Callable[[], sql.Op[T]], doing: str) -> T:
        psycopg, _ = _psycopg()
        try:
            async with self._pool.connection() as conn:
                return await _drive_async(_attempts(make, f"in {doing}()"), partial(_perform_async, conn))
        except psycopg.Error as exc:
            raise _typed_error(exc, doing, committing=False) from exc
