"""Fixtures of the rpc room tests: one anvil per session and a deployer of raw-bytecode test contracts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sso_signer.node import AnvilNode
from tests.needs import started_anvil
from tests.rpc.contracts import initcode_for


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    with started_anvil() as node:
        yield node


@pytest.fixture(scope="session")
def deploy(anvil: AnvilNode) -> Callable[[bytes], str]:
    """Deploy a runtime from the last dev account; returns the address."""

    def _deploy(runtime: bytes) -> str:
        address, _ = anvil.eth.deploy_contract(anvil.accounts[9], initcode_for(runtime))
        return address

    return _deploy
