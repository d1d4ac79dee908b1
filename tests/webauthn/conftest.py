"""Shared fixtures of the passkey room's tests."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from sso_signer.webauthn import (
    AsyncRelyingParty,
    PostgresStore,
    RelyingParty,
    SQLiteStore,
    open_async_store,
    open_store,
)
from tests.needs import SHARED_VECTORS

VECTORS = SHARED_VECTORS / "sso-era.json"


@pytest.fixture(scope="session")
def clave_vector() -> dict[str, Any]:
    """vector1_clave_signed_challenge of the official SSO vectors."""
    if not VECTORS.exists():
        pytest.skip(f"official vectors not found at {VECTORS}")
    data: dict[str, Any] = json.loads(VECTORS.read_text())["vector1_clave_signed_challenge"]
    return data


@pytest.fixture(scope="session")
def clave_cose_key(clave_vector: dict[str, Any]) -> bytes:
    """The vector's COSE key, given there as a dict of byte values keyed by index."""
    as_dict = clave_vector["verbatim"]["authenticator"]["credentialPublicKey"]
    return bytes(as_dict[str(i)] for i in range(len(as_dict)))


@dataclass(frozen=True)
class Backend:
    """One store backend of the contract suite: its URL, and a way to open another store on it."""

    name: str
    url: str

    def open(self) -> SQLiteStore | PostgresStore:
        """A new store (new connections) on the same database."""
        return open_store(self.url)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each store contract test runs on SQLite and on a PostgreSQL server the session started."""
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite://{tmp_path / 'store.db'}")
    url: str = request.getfixturevalue("sso_postgres_url")
    return Backend("postgres", url)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a relying party's empty database: each ceremony test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'rp.sqlite'}"
    url: str = request.getfixturevalue("sso_postgres_url")
    return url


@pytest.fixture(params=["sync", "async"])
def shell(request: pytest.FixtureRequest) -> str:
    """Each ceremony test runs on :class:`RelyingParty` and on :class:`AsyncRelyingParty`."""
    mode: str = request.param
    return mode


class Blocking:
    """An asyncio object driven from synchronous test code: every awaitable it returns is run to its end on
    one event loop (the async stores' connections belong to that loop), and its ``store`` is wrapped too."""

    def __init__(self, target: Any, runner: asyncio.Runner) -> None:
        self._target = target
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name == "store":
            return Blocking(value, self._runner)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            return self._runner.run(result) if inspect.iscoroutine(result) else result

        return call


@contextmanager
def relying_party(url: str, shell: str, **kwargs: Any) -> Iterator[RelyingParty]:
    """A relying party on a new store at ``url``: a :class:`RelyingParty` on the sync store (``shell`` is
    ``"sync"``), or an :class:`AsyncRelyingParty` on the async store behind a :class:`Blocking` facade, so the
    same test code checks both."""
    if shell == "sync":
        with open_store(url) as store:
            yield RelyingParty(store=store, **kwargs)
        return
    with asyncio.Runner() as runner:
        async_store = runner.run(open_async_store(url))
        try:
            yield cast(RelyingParty, Blocking(AsyncRelyingParty(store=async_store, **kwargs), runner))
        finally:
            runner.run(async_store.close())
