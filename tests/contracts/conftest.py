"""Fixtures of the contract integration tests: one anvil (osaka) per session, one deployed Era validator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sso_signer.node import AnvilNode
from tests.contracts.era_chain import EraValidator, new_account
from tests.needs import SHARED_VECTORS, require_artifacts, started_anvil

VECTORS = SHARED_VECTORS


@pytest.fixture(scope="session")
def era_vectors() -> dict[str, Any]:
    path = VECTORS / "sso-era.json"
    if not path.exists():
        pytest.skip(f"shared vector file {path} not present on this machine")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    require_artifacts("WebAuthValidator")
    with started_anvil(hardfork="osaka") as node:
        yield node


@pytest.fixture(scope="session")
def era_validator(anvil: AnvilNode) -> EraValidator:
    return EraValidator.deploy(anvil, new_account(anvil))
