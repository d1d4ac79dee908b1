"""Fixtures of the conformance tests: the downloaded vector distributions must be present."""

from __future__ import annotations

import pytest

from conformance._fixtures import FIXTURES_DIR
from conformance.devices import FIDO2_SDIST, WEBAUTHN_SDIST
from conformance.ecdsa_vectors import CRYPTOGRAPHY_VECTORS, PYCRYPTODOME_VECTORS


@pytest.fixture(scope="session")
def fixtures_present() -> None:
    missing = [
        name
        for name in (PYCRYPTODOME_VECTORS, CRYPTOGRAPHY_VECTORS, WEBAUTHN_SDIST, FIDO2_SDIST)
        if not (FIXTURES_DIR / name).is_file()
    ]
    if missing:
        pytest.skip(
            f"fixture distributions not downloaded ({', '.join(missing)}): run scripts/fetch_fixtures.sh"
        )
