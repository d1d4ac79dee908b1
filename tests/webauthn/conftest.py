"""Shared fixtures of the passkey room's tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sso_signer.webauthn import PostgresStore, SQLiteStore, open_store
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
