"""Opening a passkey store from a URL: ``sqlite:///path``, ``sqlite://:memory:`` or ``postgresql://...``."""

from __future__ import annotations

from sso_signer.exceptions import ConfigurationError, ErrorCode
from sso_signer.webauthn._store_postgres import AsyncPostgresStore, PostgresStore
from sso_signer.webauthn._store_sqlite import AsyncSQLiteStore, SQLiteStore

__all__ = ["open_async_store", "open_store"]


def _parse(url: str) -> tuple[bool, str]:
    """``(PostgreSQL?, the SQLite path or the PostgreSQL URL as given)``."""
    if url.startswith(("postgresql://", "postgres://")):
        return True, url
    if url == "sqlite://:memory:":
        return False, ":memory:"
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if not path.startswith("/") or path == "/":
            raise ConfigurationError(
                f"a SQLite store URL is sqlite:///absolute/path or sqlite://:memory:, not {url!r}",
                rule=ErrorCode.STORE_CONFIGURATION,
            )
        return False, path
    if url.startswith("sqlite:"):  # sqlite:relative/path
        return False, url.removeprefix("sqlite:")
    if "://" in url or not url:
        scheme = url.split("://", 1)[0]
        raise ConfigurationError(
            f"unknown passkey store URL scheme {scheme!r}: use sqlite:///path, sqlite://:memory: or"
            " postgresql://user@host/db",
            rule=ErrorCode.STORE_CONFIGURATION,
        )
    return False, url  # a bare file path: SQLite, as before URLs


def open_store(url: str, *, timeout: float = 10.0, max_connections: int = 10) -> SQLiteStore | PostgresStore:
    """Open the passkey store a URL names, creating or migrating its schema.

    * ``sqlite:///absolute/path.db`` (or ``sqlite:relative/path.db``, or a bare file path):
      :class:`SQLiteStore`.
    * ``sqlite://:memory:``: a private in-process SQLite store.
    * ``postgresql://user:password@host:port/database`` (libpq URL, ``postgres://`` too, query parameters
      such as ``?host=/run/postgresql`` for a Unix socket): :class:`PostgresStore`, which needs the
      ``postgres`` extra (``pip install sso-signer[postgres]``).

    Args:
        url: The store URL.
        timeout: Seconds to wait for a lock (SQLite) or a connection (PostgreSQL).
        max_connections: PostgreSQL: the pool's size.

    Returns:
        An open store; close it with ``close()`` (or use it as a context manager).

    Raises:
        ConfigurationError (``STORE_CONFIGURATION``): Unknown scheme, a malformed SQLite URL, PostgreSQL
            without the extra, or a schema newer than this sso-signer's.
        StoreUnavailable: The database cannot be opened or reached.
        StoreCorrupt: The SQLite file is not a database.
    """
    postgres, where = _parse(url)
    if postgres:
        return PostgresStore(where, max_size=max_connections, timeout=timeout)
    return SQLiteStore(where, timeout=timeout)


async def open_async_store(
    url: str, *, timeout: float = 10.0, max_connections: int = 10
) -> AsyncSQLiteStore | AsyncPostgresStore:
    """:func:`open_store` for asyncio, with its URLs, arguments and errors.

    Returns:
        An :class:`AsyncPostgresStore` or :class:`AsyncSQLiteStore`; close it with ``await store.close()``.
    """
    postgres, where = _parse(url)
    if postgres:
        return await AsyncPostgresStore.open(where, max_size=max_connections, timeout=timeout)
    return AsyncSQLiteStore(where, timeout=timeout)
