"""Shared fixtures of the passkey room's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path("/work/shared/vectors/sso-era.json")


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
