"""What chain tests need from the machine (anvil, Alto, built contracts), and the skip, with its reason,
when it is missing."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sso_signer._artifacts import Artifact, load_artifact
from sso_signer.exceptions import ConfigurationError, ToolNotFound
from sso_signer.local_erc4337 import LocalErc4337Stack
from sso_signer.node import AnvilNode

ERC4337_CONTRACTS = (
    "WebAuthnValidator",
    "ModularSmartAccount",
    "MSABeacon",
    "MSAFactory",
    "GuardianExecutor",
    "SessionKeyValidator",
)


# The official vectors: ../shared beside the repository, as CI lays it out (tests skip, saying why, without).
SHARED_VECTORS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "vectors"


def artifact(name: str) -> Artifact:
    """The built contract artifact ``name``; the test is skipped when it is not built."""
    try:
        return load_artifact(name)
    except ConfigurationError as exc:
        pytest.skip(f"contract artifacts not built: run scripts/build-contracts.sh ({exc})")


def require_artifacts(*names: str) -> None:
    """Skip the test unless the named contract artifacts are built."""
    for name in names:
        artifact(name)


def new_anvil(**kwargs: Any) -> AnvilNode:
    """An unstarted :class:`AnvilNode`; the test is skipped when the binary is missing."""
    try:
        return AnvilNode(**kwargs)
    except ToolNotFound as exc:
        pytest.skip(f"anvil not installed (run scripts/bootstrap.sh node): {exc}")


@contextmanager
def started_anvil(**kwargs: Any) -> Iterator[AnvilNode]:
    """A running anvil for a fixture, stopped afterwards; skipped when the binary is missing."""
    with new_anvil(**kwargs) as node:
        yield node


@contextmanager
def started_erc4337_stack(*, test_token: bool) -> Iterator[LocalErc4337Stack]:
    """anvil + EntryPoint + the SSO ERC-4337 contracts + Alto, stopped afterwards; skipped (with the reason)
    when the contracts are not built or anvil, node or Alto is missing."""
    require_artifacts(*ERC4337_CONTRACTS, *(("Erc4337TestToken",) if test_token else ()))
    try:
        running = LocalErc4337Stack(test_token=test_token).start()
    except ToolNotFound as exc:
        pytest.skip(f"anvil, node or npm @pimlico/alto missing: {exc}")
    try:
        yield running
    finally:
        running.stop()


def live_era_network(node: Any, **modules: str) -> tuple[Any, Any]:
    """A ``ZkSyncClient`` of the anvil-zksync ``node`` and the ``EraNetwork`` of the SSO contracts on it.

    The addresses come from the environment: ``SSO_SIGNER_ERA_VALIDATOR``, ``SSO_SIGNER_ERA_FACTORY`` and one
    variable per module keyword (``session_validator="SSO_SIGNER_ERA_SESSION_VALIDATOR"``). The test skips,
    naming the unset variables, when one is missing: EraVM builds need zksolc, which no reachable registry
    offers.
    """
    from sso_signer.accounts._deployment import local_era_network
    from sso_signer.zksync._client import ZkSyncClient

    names = {"passkey_validator": "SSO_SIGNER_ERA_VALIDATOR", "account_factory": "SSO_SIGNER_ERA_FACTORY"}
    names |= modules
    values: dict[str, Any] = {field: os.environ.get(variable, "") for field, variable in names.items()}
    missing = [names[field] for field, value in values.items() if not value]
    if missing:
        pytest.skip(
            f"set {', '.join(missing)} to the SSO contracts deployed on this anvil-zksync (EraVM builds need "
            "zksolc, which no reachable registry offers)"
        )
    return ZkSyncClient(node.url), local_era_network(**values, rpc_url=node.url)
